//! Where a request goes: a local route answered by the proxy itself, or an upstream, and
//! whether its body may be compressed.

use crate::compress::ApiFormat;

/// Which upstream serves a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    Anthropic,
    OpenAi,
}

impl UpstreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamKind::Anthropic => "anthropic",
            UpstreamKind::OpenAi => "openai",
        }
    }
}

/// What the proxy does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    Metrics,
    Stats,
    /// `GET /stats/history`: bucketed savings as JSON or CSV.
    StatsHistory,
    /// `GET /dashboard`: the page.
    Dashboard,
    /// `GET /dashboard/data`: what the page polls.
    DashboardData,
    Upstream {
        kind: UpstreamKind,
        /// Set when the body may be compressed (JSON POSTs to the message endpoints).
        format: Option<ApiFormat>,
        /// Bounded metric label.
        label: &'static str,
    },
}

impl Route {
    /// A bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Route::Health => "health",
            Route::Metrics => "metrics",
            Route::Stats => "stats",
            Route::StatsHistory => "stats_history",
            Route::Dashboard => "dashboard",
            Route::DashboardData => "dashboard_data",
            Route::Upstream { label, .. } => label,
        }
    }

    /// Local routes that show what the proxy counted: only trusted callers may use them.
    pub fn exposes_data(&self) -> bool {
        match self {
            Route::Stats
            | Route::Metrics
            | Route::StatsHistory
            | Route::Dashboard
            | Route::DashboardData => true,
            Route::Health | Route::Upstream { .. } => false,
        }
    }
}

/// Classifies a request by method and path (query string excluded).
pub fn classify(method: &http::Method, path: &str) -> Route {
    let get = method == http::Method::GET || method == http::Method::HEAD;
    match path {
        "/health" | "/healthz" if get => return Route::Health,
        "/metrics" if get => return Route::Metrics,
        "/stats" if get => return Route::Stats,
        "/stats/history" if get => return Route::StatsHistory,
        "/dashboard" | "/dashboard/" if get => return Route::Dashboard,
        "/dashboard/data" if get => return Route::DashboardData,
        _ => {}
    }
    let post = method == http::Method::POST;
    let path = path.trim_end_matches('/');
    match path {
        "/v1/messages" => Route::Upstream {
            kind: UpstreamKind::Anthropic,
            format: post.then_some(ApiFormat::Anthropic),
            label: "messages",
        },
        "/v1/messages/count_tokens" => Route::Upstream {
            kind: UpstreamKind::Anthropic,
            format: None,
            label: "count_tokens",
        },
        "/v1/chat/completions" => Route::Upstream {
            kind: UpstreamKind::OpenAi,
            format: post.then_some(ApiFormat::OpenAi),
            label: "chat_completions",
        },
        "/v1/responses" => Route::Upstream {
            kind: UpstreamKind::OpenAi,
            format: None,
            label: "responses",
        },
        "/v1/embeddings" => Route::Upstream {
            kind: UpstreamKind::OpenAi,
            format: None,
            label: "embeddings",
        },
        p if p.starts_with("/v1/messages/") => Route::Upstream {
            kind: UpstreamKind::Anthropic,
            format: None,
            label: "anthropic_other",
        },
        p if p.starts_with("/v1/") => Route::Upstream {
            kind: UpstreamKind::OpenAi,
            format: None,
            label: "openai_other",
        },
        _ => Route::Upstream {
            kind: UpstreamKind::Anthropic,
            format: None,
            label: "other",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn kind(m: Method, p: &str) -> Option<UpstreamKind> {
        match classify(&m, p) {
            Route::Upstream { kind, .. } => Some(kind),
            _ => None,
        }
    }

    #[test]
    fn routes_by_path() {
        assert_eq!(classify(&Method::GET, "/health"), Route::Health);
        assert_eq!(classify(&Method::GET, "/metrics"), Route::Metrics);
        assert_eq!(kind(Method::POST, "/health"), Some(UpstreamKind::Anthropic));
        assert_eq!(
            kind(Method::POST, "/v1/messages"),
            Some(UpstreamKind::Anthropic)
        );
        assert_eq!(
            kind(Method::POST, "/v1/messages/count_tokens"),
            Some(UpstreamKind::Anthropic)
        );
        assert_eq!(
            kind(Method::POST, "/v1/messages/batches"),
            Some(UpstreamKind::Anthropic)
        );
        assert_eq!(
            kind(Method::POST, "/v1/chat/completions"),
            Some(UpstreamKind::OpenAi)
        );
        assert_eq!(
            kind(Method::POST, "/v1/responses"),
            Some(UpstreamKind::OpenAi)
        );
        assert_eq!(kind(Method::GET, "/v1/models"), Some(UpstreamKind::OpenAi));
        assert_eq!(
            kind(Method::GET, "/anything"),
            Some(UpstreamKind::Anthropic)
        );
    }

    #[test]
    fn data_routes_are_marked_as_exposing_data() {
        for p in [
            "/stats",
            "/metrics",
            "/stats/history",
            "/dashboard",
            "/dashboard/data",
        ] {
            let r = classify(&Method::GET, p);
            assert!(r.exposes_data(), "{p}: {r:?}");
            assert!(!matches!(r, Route::Upstream { .. }), "{p}");
        }
        assert!(!classify(&Method::GET, "/health").exposes_data());
        assert!(!classify(&Method::POST, "/v1/messages").exposes_data());
        assert!(!classify(&Method::POST, "/dashboard").exposes_data());
    }

    #[test]
    fn only_message_posts_are_compressible() {
        let fmt = |m, p| match classify(&m, p) {
            Route::Upstream { format, .. } => format,
            _ => None,
        };
        assert_eq!(
            fmt(Method::POST, "/v1/messages"),
            Some(ApiFormat::Anthropic)
        );
        assert_eq!(
            fmt(Method::POST, "/v1/chat/completions"),
            Some(ApiFormat::OpenAi)
        );
        assert_eq!(fmt(Method::GET, "/v1/messages"), None);
        assert_eq!(fmt(Method::POST, "/v1/messages/count_tokens"), None);
    }
}
