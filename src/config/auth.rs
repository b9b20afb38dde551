//! Checks of the `auth:` section that serde cannot make: whether a non-loopback `listen` may
//! start, and whether `auth.mode` and `auth.tokens` agree.
//!
//! Must never: print a token or its hash in a message (names only).

use super::{Auth, Config};
use headroom_team::AuthMode;
use std::net::SocketAddr;

impl Config {
    /// Why a non-loopback `listen` cannot start, if it cannot: it needs an inbound auth mode,
    /// and a mode that never injects this machine's key.
    pub(super) fn public_listen_problem(&self, addr: SocketAddr) -> Option<String> {
        match self.auth.mode {
            AuthMode::Local => Some(format!(
                "`listen`: {addr} is not a loopback address, and `auth.mode` is local: anyone who \
                 can reach it could use this proxy (and `auth.inject_api_key`, your API key). Set \
                 `auth.mode: tokens` with `auth.tokens` (see docs/team.md), or `auth.mode: \
                 passthrough` (clients bring their own keys), or listen on 127.0.0.1."
            )),
            AuthMode::Passthrough if self.auth.inject_api_key => Some(format!(
                "`listen`: {addr} is not a loopback address: `auth.mode: passthrough` needs \
                 `auth.inject_api_key: false` (clients bring their own keys)"
            )),
            _ => None,
        }
    }
}

impl Auth {
    /// Problems with `auth.mode` and `auth.tokens`, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = headroom_team::inbound::token_problems(&self.tokens);
        match (self.mode, self.tokens.is_empty()) {
            (AuthMode::Tokens, true) => problems.push(
                "`auth.mode`: tokens, but `auth.tokens` is empty: add one (`headroom token hash`)"
                    .into(),
            ),
            (AuthMode::Local | AuthMode::Passthrough, false) => problems.push(format!(
                "`auth.tokens`: listed, but `auth.mode` is {}: set `auth.mode: tokens` to require them",
                self.mode.as_str()
            )),
            _ => {}
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_listen_address_needs_an_inbound_auth_mode() {
        let mut c = Config {
            listen: "0.0.0.0:8787".into(),
            ..Config::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("auth.mode") && e.contains("passthrough"), "{e}");
        c.auth.inject_api_key = false;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("auth.mode"),
            "key injection off is not enough: {e}"
        );
        c.auth.mode = headroom_team::AuthMode::Passthrough;
        c.validate().unwrap();
        c.auth.inject_api_key = true;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("auth.inject_api_key: false"), "{e}");
        c.auth.mode = headroom_team::AuthMode::Tokens;
        c.auth.tokens = vec![headroom_team::TokenEntry {
            name: "ci".into(),
            sha256: headroom_team::inbound::hash_token("t"),
            anthropic_key_env: None,
            openai_key_env: None,
        }];
        c.validate().unwrap();
    }
}
