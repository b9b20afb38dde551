//! Inbound auth on the request path of a shared gateway (`auth.mode: tokens`): who the caller
//! is, the 401 for everyone else, and the credential headers sent upstream in their place.
//! The token logic itself is `headroom_team::inbound`.
//!
//! Must never: forward `x-headroom-token` upstream, log a token or a key, or let a request
//! without a valid token reach the upstream in `tokens` mode.

use super::errors::ProxyError;
use super::headers::{text, Fields, TOKEN, X_API_KEY};
use super::routes::UpstreamKind;
use headroom_team::inbound::{Carrier, Presented, Provider, SecretKey};
use headroom_team::{AuthMode, Inbound, Verdict};
use http::header::AUTHORIZATION;
use pingora::http::RequestHeader;
use std::sync::Arc;

/// A caller the gateway let in by its token.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub name: Arc<str>,
    carrier: Carrier,
    key: Option<SecretKey>,
}

impl Admitted {
    /// The token came as the request's own credential (swapped for the server-side key).
    pub fn replaces_credentials(&self) -> bool {
        self.carrier == Carrier::Credential
    }
}

fn presented<'a>(f: &Fields<'a>) -> Presented<'a> {
    Presented {
        token_header: text(f.token),
        api_key: text(f.x_api_key),
        authorization: text(f.authorization),
    }
}

/// Decides a request to a provider route. `Ok(None)`: no token needed (`local`, `passthrough`).
pub fn admit(
    inbound: &Inbound,
    fields: &Fields<'_>,
    kind: UpstreamKind,
) -> Result<Option<Admitted>, ProxyError> {
    if inbound.mode() != AuthMode::Tokens {
        // What `Inbound::check` answers for these modes, without reading the headers first.
        return Ok(None);
    }
    let provider = match kind {
        UpstreamKind::Anthropic => Provider::Anthropic,
        UpstreamKind::OpenAi => Provider::OpenAi,
    };
    match inbound.check(&presented(fields), provider) {
        Verdict::Open => Ok(None),
        Verdict::Allowed { name, carrier, key } => Ok(Some(Admitted { name, carrier, key })),
        Verdict::Denied(message) => {
            crate::team::count_refused();
            Err(ProxyError {
                status: 401,
                kind: "authentication_error",
                message,
            })
        }
    }
}

/// A local data route (`/stats`, `/metrics`, …) asked for by a gateway token holder: only the
/// `x-headroom-token` header counts here (nothing is forwarded, so no key is involved).
pub fn token_holder(inbound: &Inbound, fields: &Fields<'_>) -> bool {
    if inbound.mode() != AuthMode::Tokens {
        return false;
    }
    let only_token = Presented {
        token_header: text(fields.token),
        ..Presented::default()
    };
    only_token.token_header.is_some()
        && matches!(
            inbound.check(&only_token, Provider::Anthropic),
            Verdict::Allowed { .. }
        )
}

/// Rewrites the upstream request's credentials: the token header never goes upstream; a token
/// sent as the credential is replaced by the server-side key of that provider.
/// `token_header`: the request came with the token header.
pub fn apply(
    req: &mut RequestHeader,
    admitted: Option<&Admitted>,
    kind: UpstreamKind,
    token_header: bool,
) {
    if token_header {
        req.remove_header(&TOKEN);
    }
    let Some(a) = admitted.filter(|a| a.replaces_credentials()) else {
        return;
    };
    let Some(key) = &a.key else {
        return;
    };
    req.remove_header(&X_API_KEY);
    req.remove_header(&AUTHORIZATION);
    let set = match kind {
        UpstreamKind::Anthropic => req.insert_header("x-api-key", key.expose()),
        UpstreamKind::OpenAi => {
            req.insert_header("authorization", format!("Bearer {}", key.expose()))
        }
    };
    if set.is_err() {
        tracing::warn!(token = %a.name, "the server-side provider key is not a valid header value");
    }
}
