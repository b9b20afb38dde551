//! Inbound auth for shared deployments: who may use the gateway. Named bearer tokens are kept
//! in the config only as sha256 hex; a client presents its token as `x-headroom-token` (its
//! own provider credentials then pass through), or as its `x-api-key` / `Authorization:
//! Bearer` value, which the gateway swaps for the provider key it keeps server-side.
//!
//! Must never: keep or log a presented token or a provider key in clear (Debug masks keys),
//! compare hashes in time that depends on where they differ, or let a request without a valid
//! token through in `tokens` mode.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The header a client sends its gateway token in.
pub const TOKEN_HEADER: &str = "x-headroom-token";

/// `auth.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Laptop: only trusted local callers get a key injected (loopback `listen` only).
    #[default]
    Local,
    /// Every request needs a token listed in `auth.tokens`.
    Tokens,
    /// Clients bring their own provider keys; no key is ever injected.
    Passthrough,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Local => "local",
            AuthMode::Tokens => "tokens",
            AuthMode::Passthrough => "passthrough",
        }
    }
}

/// One entry of `auth.tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Who holds it: the label of its usage in `/stats` and `/metrics`.
    pub name: String,
    /// sha256 of the token, lowercase hex (`headroom token hash` prints it).
    pub sha256: String,
    /// Environment variable holding the Anthropic key used when the token is sent as the
    /// credential (default `ANTHROPIC_API_KEY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anthropic_key_env: Option<String>,
    /// Same for OpenAI-compatible routes (default `OPENAI_API_KEY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openai_key_env: Option<String>,
}

/// sha256 of `token`, lowercase hex.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Problems with `auth.tokens`, each naming the entry.
pub fn token_problems(tokens: &[TokenEntry]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let ok_name = !t.name.is_empty()
            && t.name.len() <= 64
            && t.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
        if !ok_name {
            out.push(format!(
                "`auth.tokens[{i}].name`: {:?} must be 1-64 letters, digits or -_.@ (it is a metric label)",
                t.name
            ));
        }
        if parse_hex32(&t.sha256.to_ascii_lowercase()).is_none() {
            out.push(format!(
                "`auth.tokens[{i}].sha256` ({}): not 64 hex digits; make one with `headroom token hash`",
                t.name
            ));
        }
        if tokens[..i].iter().any(|o| o.name == t.name) {
            out.push(format!(
                "`auth.tokens[{i}].name`: {:?} is listed twice",
                t.name
            ));
        }
    }
    out
}

/// A provider key kept server-side.
#[derive(Clone)]
pub struct SecretKey(Arc<str>);

impl SecretKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

#[derive(Debug, Clone)]
struct Token {
    name: Arc<str>,
    digest: [u8; 32],
    anthropic: Option<SecretKey>,
    openai: Option<SecretKey>,
}

/// Which provider a request goes to (picks the server-side key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Anthropic,
    OpenAi,
}

/// Where the client put its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// `x-headroom-token`: strip it; the request's own credentials stay.
    TokenHeader,
    /// `x-api-key` / `Authorization`: replace it with the server-side key.
    Credential,
}

/// The outcome for one request.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// No token needed (`local` or `passthrough`).
    Open,
    Allowed {
        name: Arc<str>,
        carrier: Carrier,
        /// The key to send upstream when `carrier` is `Credential`.
        key: Option<SecretKey>,
    },
    /// 401 with this message.
    Denied(String),
}

/// The request's credential headers, as the proxy read them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    pub token_header: Option<&'a str>,
    pub api_key: Option<&'a str>,
    pub authorization: Option<&'a str>,
}

/// The token policy of one config snapshot.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    mode: AuthMode,
    tokens: Vec<Token>,
}

impl Inbound {
    /// `env` reads the provider keys' variables (once per config load, not per request).
    pub fn new(
        mode: AuthMode,
        entries: &[TokenEntry],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Inbound {
        let key = |var: &Option<String>, default: &str| {
            env(var.as_deref().unwrap_or(default))
                .filter(|v| !v.is_empty())
                .map(|v| SecretKey(Arc::from(v)))
        };
        let tokens = entries
            .iter()
            .filter_map(|e| {
                Some(Token {
                    name: Arc::from(e.name.as_str()),
                    digest: parse_hex32(&e.sha256.to_ascii_lowercase())?,
                    anthropic: key(&e.anthropic_key_env, "ANTHROPIC_API_KEY"),
                    openai: key(&e.openai_key_env, "OPENAI_API_KEY"),
                })
            })
            .collect();
        Inbound { mode, tokens }
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// The configured token names (the bounded label set of per-token metrics).
    pub fn names(&self) -> Vec<Arc<str>> {
        self.tokens.iter().map(|t| t.name.clone()).collect()
    }

    fn find(&self, presented: &str) -> Option<&Token> {
        let d: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        // Every entry is compared in full, so timing says nothing about which one matched.
        let mut found = None;
        for t in &self.tokens {
            let diff = t
                .digest
                .iter()
                .zip(d.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(t);
            }
        }
        found
    }

    pub fn check(&self, p: &Presented<'_>, provider: Provider) -> Verdict {
        if self.mode != AuthMode::Tokens {
            return Verdict::Open;
        }
        if let Some(raw) = p.token_header {
            return match self.find(raw) {
                Some(t) => Verdict::Allowed {
                    name: t.name.clone(),
                    carrier: Carrier::TokenHeader,
                    key: None,
                },
                None => Verdict::Denied(format!(
                    "headroom: the `{TOKEN_HEADER}` token is not one this gateway knows; ask \
                     its operator for yours"
                )),
            };
        }
        let bearer = p.authorization.and_then(|a| {
            let (scheme, rest) = a.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(rest)
        });
        for candidate in [p.api_key, bearer].into_iter().flatten() {
            if let Some(t) = self.find(candidate) {
                let key = match provider {
                    Provider::Anthropic => t.anthropic.clone(),
                    Provider::OpenAi => t.openai.clone(),
                };
                if key.is_none() {
                    return Verdict::Denied(format!(
                        "headroom: token `{}` is valid, but this gateway keeps no provider key \
                         for this route; send your own key with the token in `{TOKEN_HEADER}`",
                        t.name
                    ));
                }
                return Verdict::Allowed {
                    name: t.name.clone(),
                    carrier: Carrier::Credential,
                    key,
                };
            }
        }
        Verdict::Denied(format!(
            "headroom: this gateway needs a token: send it as `{TOKEN_HEADER}` (with your own \
             provider key) or as your API key"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound() -> Inbound {
        let entries = vec![
            TokenEntry {
                name: "alice".into(),
                sha256: hash_token("tok-alice"),
                anthropic_key_env: Some("TEAM_ANTHROPIC".into()),
                openai_key_env: None,
            },
            TokenEntry {
                name: "bob".into(),
                sha256: hash_token("tok-bob").to_uppercase(),
                anthropic_key_env: None,
                openai_key_env: None,
            },
        ];
        let env = |k: &str| (k == "TEAM_ANTHROPIC").then(|| "sk-ant-server".to_string());
        Inbound::new(AuthMode::Tokens, &entries, &env)
    }

    #[test]
    fn hash_is_sha256_hex() {
        // sha256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn token_header_keeps_own_credentials_and_names_the_holder() {
        let p = Presented {
            token_header: Some("tok-bob"),
            api_key: Some("sk-ant-own"),
            ..Default::default()
        };
        match inbound().check(&p, Provider::Anthropic) {
            Verdict::Allowed { name, carrier, key } => {
                assert_eq!(&*name, "bob");
                assert_eq!(carrier, Carrier::TokenHeader);
                assert!(key.is_none());
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn token_as_api_key_is_swapped_for_the_server_side_key() {
        for p in [
            Presented {
                api_key: Some("tok-alice"),
                ..Default::default()
            },
            Presented {
                authorization: Some("Bearer tok-alice"),
                ..Default::default()
            },
        ] {
            match inbound().check(&p, Provider::Anthropic) {
                Verdict::Allowed {
                    name,
                    carrier: Carrier::Credential,
                    key: Some(k),
                } => {
                    assert_eq!(&*name, "alice");
                    assert_eq!(k.expose(), "sk-ant-server");
                    assert_eq!(format!("{k:?}"), "SecretKey(***)");
                }
                v => panic!("{v:?}"),
            }
        }
        // No OpenAI key kept for alice.
        let p = Presented {
            api_key: Some("tok-alice"),
            ..Default::default()
        };
        assert!(matches!(
            inbound().check(&p, Provider::OpenAi),
            Verdict::Denied(_)
        ));
    }

    #[test]
    fn missing_or_wrong_tokens_are_denied_and_other_modes_are_open() {
        for p in [
            Presented::default(),
            Presented {
                token_header: Some("tok-alicE"),
                ..Default::default()
            },
            Presented {
                api_key: Some("sk-ant-someone"),
                ..Default::default()
            },
            Presented {
                authorization: Some("Basic tok-alice"),
                ..Default::default()
            },
        ] {
            assert!(
                matches!(inbound().check(&p, Provider::Anthropic), Verdict::Denied(_)),
                "{p:?}"
            );
        }
        let open = Inbound::new(AuthMode::Passthrough, &[], &|_| None);
        assert!(matches!(
            open.check(&Presented::default(), Provider::Anthropic),
            Verdict::Open
        ));
    }

    #[test]
    fn bad_entries_are_named() {
        let p = token_problems(&[TokenEntry {
            name: "a b".into(),
            sha256: "xyz".into(),
            anthropic_key_env: None,
            openai_key_env: None,
        }]);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[1].contains("headroom token hash"));
    }
}
