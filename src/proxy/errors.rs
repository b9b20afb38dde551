//! Error responses in the provider's shape, so SDKs surface them as ordinary API errors.
//!
//! Must never: put header values, credentials or prompt text in a message.

use pingora::{Error, ErrorSource, ErrorType};

/// Whose API's error format a body takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    Anthropic,
    OpenAi,
}

/// An error the proxy answers itself.
#[derive(Debug, Clone)]
pub struct ProxyError {
    pub status: u16,
    /// Anthropic's error type (`api_error`, `overloaded_error`, `request_too_large`, …).
    pub kind: &'static str,
    pub message: String,
}

impl ProxyError {
    /// The body in `shape`, so the provider's SDK raises an ordinary API error.
    pub fn body_for(&self, shape: ErrorShape) -> Vec<u8> {
        match shape {
            ErrorShape::Anthropic => self.body(),
            ErrorShape::OpenAi => self.openai_body(),
        }
    }

    /// OpenAI's shape: `{"error":{"message":...,"type":...,"param":null,"code":...}}`.
    pub fn openai_body(&self) -> Vec<u8> {
        let kind = match self.kind {
            "api_error" | "overloaded_error" | "timeout_error" => "server_error",
            k => k,
        };
        serde_json::to_vec(&serde_json::json!({
            "error": { "message": self.message, "type": kind, "param": null, "code": self.kind },
        }))
        .unwrap_or_default()
    }

    /// Anthropic's shape: `{"type":"error","error":{"type":...,"message":...}}`.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "type": "error",
            "error": { "type": self.kind, "message": self.message },
        }))
        .unwrap_or_default()
    }
}

/// Maps a Pingora error for a request to `upstream` into what the client should see.
/// Returns `None` when the client connection is already gone.
pub fn from_pingora(e: &Error, upstream: &str) -> Option<ProxyError> {
    use ErrorType::*;
    let etype = e.etype();
    if let HTTPStatus(code) = etype {
        return Some(ProxyError {
            status: *code,
            kind: kind_for_status(*code),
            message: format!("headroom: request failed with status {code}"),
        });
    }
    match e.esource() {
        ErrorSource::Downstream => match etype {
            WriteError | ReadError | ConnectionClosed => None,
            ReadTimedout => Some(ProxyError {
                status: 408,
                kind: "invalid_request_error",
                message: "headroom: timed out reading the request from the client".into(),
            }),
            _ => Some(ProxyError {
                status: 400,
                kind: "invalid_request_error",
                message: "headroom: malformed HTTP request".into(),
            }),
        },
        ErrorSource::Upstream => {
            let (status, what) = match etype {
                ConnectTimedout => (504, "timed out connecting to"),
                ReadTimedout => (504, "timed out waiting for"),
                WriteTimedout => (504, "timed out sending the request to"),
                ConnectRefused => (502, "connection refused by"),
                ConnectNoRoute => (502, "cannot resolve or route to"),
                TLSHandshakeFailure | TLSHandshakeTimedout | InvalidCert | HandshakeError => {
                    (502, "TLS handshake failed with")
                }
                ConnectionClosed => (502, "connection closed by"),
                _ => (502, "bad response from"),
            };
            Some(ProxyError {
                status,
                kind: if status == 504 {
                    "timeout_error"
                } else {
                    "api_error"
                },
                message: format!("headroom: {what} the {upstream} upstream ({etype:?})"),
            })
        }
        ErrorSource::Internal | ErrorSource::Unset => Some(ProxyError {
            status: 500,
            kind: "api_error",
            message: "headroom: internal proxy error".into(),
        }),
    }
}

fn kind_for_status(code: u16) -> &'static str {
    match code {
        400 | 411 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 | 503 => "overloaded_error",
        _ => "api_error",
    }
}
