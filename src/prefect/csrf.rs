//! CSRF tokens of CSRF-protected Prefect servers, kept for the isolate's later calls.
//!
//! Learning a token costs a refused POST and a token read; forgotten with each call, that is
//! two extra round trips on every tool call. A Worker isolate serves many requests, so a
//! learnt token is kept under a digest of the API URL and the Authorization value (never the
//! value itself) and offered to the next call with the same URL and credentials. A kept token
//! the server no longer accepts is replaced like any stale one.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A token from `GET /csrf-token?client=…`, valid for POSTs that name the same client.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CsrfToken {
    pub client: String,
    pub token: String,
}

/// Tokens kept at most; past that the memory starts over (a token is cheap to learn again).
const MAX_KEPT: usize = 64;

thread_local! {
    static KEPT: RefCell<HashMap<[u8; 32], CsrfToken>> = RefCell::new(HashMap::new());
}

/// Which API URL and credentials a token was learnt for (a digest of both).
#[derive(Debug, Clone, Copy)]
pub struct TokenKey([u8; 32]);

impl TokenKey {
    pub fn new(api_url: &str, authorization: Option<&str>) -> Self {
        let mut digest = Sha256::new();
        digest.update(api_url.as_bytes());
        digest.update([0]);
        digest.update(authorization.unwrap_or_default().as_bytes());
        TokenKey(digest.finalize().into())
    }

    /// The token last learnt for this URL and credentials in this isolate.
    pub fn kept(self) -> Option<CsrfToken> {
        KEPT.with(|kept| kept.borrow().get(&self.0).cloned())
    }

    pub fn keep(self, token: &CsrfToken) {
        KEPT.with(|kept| {
            let mut kept = kept.borrow_mut();
            if kept.len() >= MAX_KEPT && !kept.contains_key(&self.0) {
                kept.clear();
            }
            kept.insert(self.0, token.clone());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str) -> CsrfToken {
        CsrfToken { client: format!("client-{name}"), token: name.to_owned() }
    }

    #[test]
    fn tokens_are_kept_per_url_and_credentials() {
        let key = TokenKey::new("http://127.0.0.1:4200/api", Some("Basic YTpi"));
        key.keep(&token("one"));
        assert_eq!(TokenKey::new("http://127.0.0.1:4200/api", Some("Basic YTpi")).kept(), Some(token("one")));
        assert_eq!(TokenKey::new("http://127.0.0.1:4200/api", Some("Basic YTpj")).kept(), None);
        assert_eq!(TokenKey::new("http://127.0.0.1:4200/api", None).kept(), None);
        assert_eq!(TokenKey::new("http://127.0.0.1:4201/api", Some("Basic YTpi")).kept(), None);
    }

    #[test]
    fn memory_stays_bounded() {
        for i in 0..=MAX_KEPT {
            TokenKey::new(&format!("http://127.0.0.1:{i}/api"), None).keep(&token("t"));
        }
        assert!(KEPT.with(|kept| kept.borrow().len()) <= MAX_KEPT);
        assert!(
            TokenKey::new(&format!("http://127.0.0.1:{MAX_KEPT}/api"), None).kept().is_some(),
            "the newest is kept"
        );
    }
}
