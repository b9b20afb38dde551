//! Where a request goes: a local route answered by the proxy itself, or an upstream, and
//! whether its body may be compressed.

use super::errors::ProxyError;
use super::headers::Fields;
use crate::compress::ApiFormat;

/// Which upstream serves a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    Anthropic,
    OpenAi,
}

impl UpstreamKind {
    /// The error format this provider's clients understand.
    pub fn error_shape(self) -> super::errors::ErrorShape {
        match self {
            UpstreamKind::Anthropic => super::errors::ErrorShape::Anthropic,
            UpstreamKind::OpenAi => super::errors::ErrorShape::OpenAi,
        }
    }

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
    /// `GET /health/live`: the process answers (liveness probe).
    Live,
    /// `GET /health/ready`: listening, config and model loaded, Redis reachable when
    /// configured, not draining (readiness probe).
    Ready,
    Metrics,
    Stats,
    /// `GET /stats/history`: bucketed savings as JSON or CSV.
    StatsHistory,
    /// `GET /dashboard`: the page.
    Dashboard,
    /// `GET /dashboard/data`: what the page polls.
    DashboardData,
    /// `GET /v1/retrieve/{id}`: a stored original (or a slice of it).
    Retrieve,
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
            Route::Live => "health_live",
            Route::Ready => "health_ready",
            Route::Metrics => "metrics",
            Route::Stats => "stats",
            Route::StatsHistory => "stats_history",
            Route::Dashboard => "dashboard",
            Route::DashboardData => "dashboard_data",
            Route::Retrieve => "retrieve",
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
            | Route::DashboardData
            | Route::Retrieve => true,
            Route::Health | Route::Live | Route::Ready | Route::Upstream { .. } => false,
        }
    }
}

/// What the request's headers say about which provider it is meant for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderHints {
    /// `x-api-key`, `anthropic-version`, `anthropic-beta` or an `sk-ant-` bearer token.
    pub anthropic: bool,
}

impl ProviderHints {
    pub fn from_fields(f: &Fields<'_>) -> ProviderHints {
        let anthropic = f.x_api_key.is_some()
            || f.anthropic_version.is_some()
            || f.anthropic_beta.is_some()
            || bearer(f).is_some_and(|t| t.starts_with("sk-ant-"));
        ProviderHints { anthropic }
    }
}

/// The bearer token of an `Authorization` header, if any.
fn bearer<'a>(f: &Fields<'a>) -> Option<&'a str> {
    let v = f.authorization?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Anthropic API paths that no OpenAI endpoint shares.
const ANTHROPIC_ONLY: &[&str] = &[
    "/v1/messages",
    "/v1/complete",
    "/v1/organizations",
    "/v1/skills",
    "/v1/experimental",
];

/// Paths both providers serve: the credentials decide.
const SHARED: &[&str] = &["/v1/models", "/v1/files"];

fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Classifies a request by method, path (query string excluded) and provider hints.
pub fn classify(method: &http::Method, path: &str, hints: ProviderHints) -> Route {
    let get = method == http::Method::GET || method == http::Method::HEAD;
    match path {
        "/health" | "/healthz" if get => return Route::Health,
        "/health/live" | "/livez" if get => return Route::Live,
        "/health/ready" | "/readyz" if get => return Route::Ready,
        "/metrics" if get => return Route::Metrics,
        "/stats" if get => return Route::Stats,
        "/stats/history" if get => return Route::StatsHistory,
        "/dashboard" | "/dashboard/" if get => return Route::Dashboard,
        "/dashboard/data" if get => return Route::DashboardData,
        p if get && p.starts_with("/v1/retrieve/") => return Route::Retrieve,
        _ => {}
    }
    let post = method == http::Method::POST;
    let path = path.trim_end_matches('/');
    let upstream = |kind, format, label| Route::Upstream {
        kind,
        format,
        label,
    };
    match path {
        "/v1/messages" => upstream(
            UpstreamKind::Anthropic,
            post.then_some(ApiFormat::Anthropic),
            "messages",
        ),
        "/v1/messages/count_tokens" => upstream(UpstreamKind::Anthropic, None, "count_tokens"),
        "/v1/chat/completions" => upstream(
            UpstreamKind::OpenAi,
            post.then_some(ApiFormat::OpenAi),
            "chat_completions",
        ),
        "/v1/responses" => upstream(UpstreamKind::OpenAi, None, "responses"),
        "/v1/embeddings" => upstream(UpstreamKind::OpenAi, None, "embeddings"),
        p if ANTHROPIC_ONLY.iter().any(|a| under(p, a)) => {
            upstream(UpstreamKind::Anthropic, None, "anthropic_other")
        }
        p if SHARED.iter().any(|a| under(p, a)) && hints.anthropic => {
            upstream(UpstreamKind::Anthropic, None, "anthropic_other")
        }
        p if under(p, "/v1") => upstream(UpstreamKind::OpenAi, None, "openai_other"),
        _ => upstream(UpstreamKind::Anthropic, None, "other"),
    }
}

/// Refuses a request whose credential belongs to the other provider, so a key never reaches a
/// provider that did not issue it.
pub fn credential_conflict(kind: UpstreamKind, f: &Fields<'_>) -> Option<ProxyError> {
    let token = bearer(f);
    let what = match kind {
        UpstreamKind::OpenAi if f.x_api_key.is_some() => "an `x-api-key` header",
        UpstreamKind::OpenAi if token.is_some_and(|t| t.starts_with("sk-ant-")) => {
            "an Anthropic (`sk-ant-`) token"
        }
        UpstreamKind::Anthropic
            if token.is_some_and(|t| t.starts_with("sk-") && !t.starts_with("sk-ant-")) =>
        {
            "an OpenAI (`sk-`) bearer token"
        }
        _ => return None,
    };
    Some(ProxyError {
        status: 400,
        kind: "invalid_request_error",
        message: format!(
            "headroom: this request carries {what}, which does not belong to the {} API this \
             path is routed to; refusing to forward a credential across providers (see README, \
             \"What it does to a request\")",
            kind.as_str()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn kind(m: Method, p: &str) -> Option<UpstreamKind> {
        match classify(&m, p, ProviderHints::default()) {
            Route::Upstream { kind, .. } => Some(kind),
            _ => None,
        }
    }

    #[test]
    fn routes_by_path() {
        assert_eq!(
            classify(&Method::GET, "/health", ProviderHints::default()),
            Route::Health
        );
        assert_eq!(
            classify(&Method::GET, "/metrics", ProviderHints::default()),
            Route::Metrics
        );
        assert_eq!(
            classify(&Method::GET, "/health/ready", ProviderHints::default()),
            Route::Ready
        );
        assert_eq!(
            classify(&Method::GET, "/health/live", ProviderHints::default()),
            Route::Live
        );
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
            let r = classify(&Method::GET, p, ProviderHints::default());
            assert!(r.exposes_data(), "{p}: {r:?}");
            assert!(!matches!(r, Route::Upstream { .. }), "{p}");
        }
        assert!(!classify(&Method::GET, "/health", ProviderHints::default()).exposes_data());
        assert!(!classify(&Method::POST, "/v1/messages", ProviderHints::default()).exposes_data());
        assert!(!classify(&Method::POST, "/dashboard", ProviderHints::default()).exposes_data());
    }

    #[test]
    fn only_message_posts_are_compressible() {
        let fmt = |m, p| match classify(&m, p, ProviderHints::default()) {
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

    fn kind_with(m: Method, p: &str, headers: &[(&'static str, &'static str)]) -> UpstreamKind {
        let mut h = http::HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        match classify(&m, p, ProviderHints::from_fields(&Fields::scan(&h))) {
            Route::Upstream { kind, .. } => kind,
            other => panic!("{p}: {other:?}"),
        }
    }

    #[test]
    fn anthropic_api_paths_go_to_anthropic() {
        for p in [
            "/v1/messages/batches",
            "/v1/messages/batches/msgbatch_01/results",
            "/v1/complete",
            "/v1/organizations/me",
            "/v1/organizations/api_keys",
            "/v1/skills",
            "/v1/experimental/generate_prompt",
        ] {
            assert_eq!(
                kind_with(Method::POST, p, &[]),
                UpstreamKind::Anthropic,
                "{p}"
            );
        }
        for p in [
            "/v1/models",
            "/v1/models/claude-sonnet-4-5",
            "/v1/files",
            "/v1/files/file_01",
        ] {
            for h in [
                ("x-api-key", "sk-ant-api03-x"),
                ("anthropic-version", "2023-06-01"),
                ("authorization", "Bearer sk-ant-oat01-x"),
            ] {
                assert_eq!(
                    kind_with(Method::GET, p, &[h]),
                    UpstreamKind::Anthropic,
                    "{p} {h:?}"
                );
            }
            assert_eq!(
                kind_with(Method::GET, p, &[("authorization", "Bearer sk-proj-x")]),
                UpstreamKind::OpenAi,
                "{p}"
            );
        }
        // Look-alike prefixes are not Anthropic paths.
        assert_eq!(
            kind_with(Method::GET, "/v1/completions", &[]),
            UpstreamKind::OpenAi
        );
        assert_eq!(
            kind_with(Method::GET, "/v1/modelsx", &[("x-api-key", "k")]),
            UpstreamKind::OpenAi
        );
    }

    #[test]
    fn credentials_of_the_other_provider_are_refused() {
        let conflict = |kind, k: &'static str, v: &'static str| {
            let mut m = http::HeaderMap::new();
            m.insert(k, http::HeaderValue::from_static(v));
            credential_conflict(kind, &Fields::scan(&m))
        };
        let openai = UpstreamKind::OpenAi;
        let anthropic = UpstreamKind::Anthropic;
        assert!(conflict(openai, "x-api-key", "sk-ant-api03-x").is_some());
        assert!(conflict(openai, "authorization", "Bearer sk-ant-oat01-x").is_some());
        assert!(conflict(openai, "authorization", "Bearer sk-proj-x").is_none());
        assert!(conflict(anthropic, "authorization", "Bearer sk-proj-x").is_some());
        assert!(conflict(anthropic, "authorization", "Bearer sk-ant-oat01-x").is_none());
        assert!(conflict(anthropic, "x-api-key", "sk-ant-api03-x").is_none());
        // Gateway tokens that are neither provider's keys pass.
        assert!(conflict(anthropic, "authorization", "Bearer gw_123").is_none());
        let e = conflict(openai, "x-api-key", "sk-ant-secret").unwrap();
        assert!(!e.message.contains("secret"), "{}", e.message);
    }
}
