//! Per-client rate limiting with the Workers rate-limit binding (`[[ratelimits]]` in
//! wrangler.toml, off unless configured). The Worker shell asks the binding; this module
//! decides whom a request counts against and what an over-limit client gets.

use http::{HeaderMap, HeaderValue, StatusCode, header};
use rmcp::model::{ErrorCode, ErrorData};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::net::IpAddr;

use super::access;
use super::{Response, rpc_error};
use crate::auth_tokens::AccessTokens;

/// The binding name the Worker looks for; without it nothing is limited.
pub const BINDING: &str = "MCP_RATE_LIMITER";
/// Platform header with the caller's address (set by Cloudflare's edge).
const CLIENT_IP_HEADER: &str = "cf-connecting-ip";
/// JSON-RPC error code of the 429 answer (implementation-defined server error range).
const RATE_LIMITED_CODE: i32 = -32029;

/// Whom a request counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The key given to the binding: a hash of the access token, or the address.
    pub key: String,
    by_token: bool,
}

impl Client {
    /// Behind the access gate, a request with a valid token counts against that token
    /// (hashed: the binding never sees it); every other request counts against its IP
    /// address, IPv6 addresses by their /64 network, which one client usually holds whole.
    pub fn identify(headers: &HeaderMap, tokens: &AccessTokens) -> Self {
        if !tokens.is_empty()
            && access::check(headers, tokens).is_ok()
            && let Some(token) = headers.get(header::AUTHORIZATION).and_then(|v| access::bearer_token(v.as_bytes()))
        {
            let digest = Sha256::digest(token.as_bytes());
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            return Client { key: format!("token:{hex}"), by_token: true };
        }
        let address = headers
            .get(CLIENT_IP_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
            .map(|ip| match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => v4.to_string(),
                    None => {
                        let s = v6.segments();
                        format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                    }
                },
            });
        Client { key: format!("ip:{}", address.as_deref().unwrap_or("unknown")), by_token: false }
    }

    /// HTTP 429 with `Retry-After` (the limiter's window) and a JSON-RPC error that says
    /// what happened and when to retry.
    pub fn refusal(&self, retry_after_s: u32) -> Response {
        let basis = if self.by_token { "access token" } else { "IP address" };
        let message = format!(
            "Rate limit exceeded: this server allows each client (here: your {basis}) a limited number of requests \
             per {retry_after_s}-second window, and this one went over it. Retry after {retry_after_s} seconds, or \
             ask the operator to raise the limit of the {BINDING} binding"
        );
        let data = json!({"retryAfterSeconds": retry_after_s});
        let mut response =
            rpc_error(StatusCode::TOO_MANY_REQUESTS, ErrorData::new(ErrorCode(RATE_LIMITED_CODE), message, Some(data)));
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::log::Summary;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_str(v).unwrap())).collect()
    }

    fn gate() -> AccessTokens {
        AccessTokens::new(vec!["tok-one-secret".into(), "tok-two-secret".into()])
    }

    #[test]
    fn valid_tokens_are_keys_by_hash_and_never_in_clear() {
        let one = Client::identify(&headers(&[("authorization", "Bearer tok-one-secret")]), &gate());
        let two = Client::identify(&headers(&[("authorization", "Bearer tok-two-secret")]), &gate());
        assert!(one.key.starts_with("token:") && one.key.len() == "token:".len() + 32, "{}", one.key);
        assert_ne!(one, two);
        assert!(!one.key.contains("tok-one") && !two.key.contains("tok-two"));
        // The same token from another address is the same client.
        let moved = headers(&[("authorization", "Bearer tok-one-secret"), ("cf-connecting-ip", "203.0.113.9")]);
        assert_eq!(Client::identify(&moved, &gate()), one);
    }

    #[test]
    fn without_a_valid_token_the_address_counts() {
        let ip = [("cf-connecting-ip", "203.0.113.7")];
        let expected = Client { key: "ip:203.0.113.7".into(), by_token: false };
        // No gate: even a bearer header is not a key (it opens nothing).
        let no_gate = headers(&[("authorization", "Bearer anything"), ip[0]]);
        assert_eq!(Client::identify(&no_gate, &AccessTokens::default()), expected);
        // Behind the gate, wrong tokens count against the address, so rotating them gains nothing.
        for auth in ["Bearer wrong-1", "Bearer wrong-2", "Basic eA=="] {
            assert_eq!(Client::identify(&headers(&[("authorization", auth), ip[0]]), &gate()), expected, "{auth}");
        }
    }

    #[test]
    fn addresses_are_normalised_and_ipv6_grouped_by_64() {
        let key = |ip: &str| Client::identify(&headers(&[("cf-connecting-ip", ip)]), &AccessTokens::default()).key;
        assert_eq!(key(" 198.51.100.4 "), "ip:198.51.100.4");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff::9"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "ip:2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:198.51.100.4"), "ip:198.51.100.4");
        assert_eq!(key("not-an-ip"), "ip:unknown");
        assert_eq!(Client::identify(&HeaderMap::new(), &AccessTokens::default()).key, "ip:unknown");
    }

    #[test]
    fn refusal_is_a_429_with_retry_after_and_a_json_rpc_error() {
        let client = Client::identify(&headers(&[("authorization", "Bearer tok-one-secret")]), &gate());
        let response = client.refusal(60);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "60");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!((body["jsonrpc"].clone(), body["id"].clone()), (json!("2.0"), json!(null)));
        assert_eq!(body["error"]["code"], json!(RATE_LIMITED_CODE));
        assert_eq!(body["error"]["data"], json!({"retryAfterSeconds": 60}));
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("Rate limit exceeded") && message.contains("access token"), "{message}");
        assert!(message.contains("Retry after 60 seconds") && !message.contains("tok-one"), "{message}");
        assert_eq!(response.extensions().get::<Summary>().unwrap().error_code, Some(RATE_LIMITED_CODE));
        let by_ip = Client::identify(&HeaderMap::new(), &AccessTokens::default()).refusal(10);
        assert!(String::from_utf8_lossy(by_ip.body()).contains("your IP address"));
    }
}
