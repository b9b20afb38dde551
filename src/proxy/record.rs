//! A finished request as the plain summary the observation code records (metrics, stats,
//! the access line).

use super::{RequestCtx, Route};
use pingora::http::RequestHeader;
use pingora_core::Error;

impl RequestCtx {
    /// This request as the plain summary the observation code records.
    pub(super) fn finished<'a>(
        &'a self,
        req: &'a RequestHeader,
        e: Option<&Error>,
    ) -> crate::observe::Finished<'a> {
        let rewritten = self.outcome.rewritten.as_ref();
        crate::observe::Finished {
            method: req.method.as_str(),
            path: req.uri.path(),
            route: self.route.label(),
            status: self.status,
            elapsed: self.started.elapsed(),
            upstream: self.upstream().name,
            local: !matches!(self.route, Route::Upstream { .. }),
            bypassed: self.bypass,
            injected_key: self.injected_key,
            token: self.admitted.as_ref().map(|a| &*a.name),
            model: self.tap.model.as_deref(),
            usage: self.tap.usage,
            bytes_in: self.outcome.bytes_in,
            bytes_out: self.outcome.bytes_out,
            blocks: rewritten.map(|r| r.blocks.as_slice()).unwrap_or(&[]),
            small_blocks: rewritten.map_or(0, |r| r.small_blocks),
            compress_time: self.outcome.compress_time,
            compress_failure: self.outcome.failure.map(|f| f.as_str()),
            oversize: self.outcome.oversize,
            error: e.map(|e| format!("{:?}", e.etype())),
        }
    }
}
