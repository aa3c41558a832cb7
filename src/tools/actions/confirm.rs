//! Confirmation tokens: what makes an action a two-step call without any state on the
//! server. A preview hands out a token that names the tool, a hash of the arguments, the
//! caller and an expiry, signed with a key only that caller's request can derive; the
//! confirming call must bring it back unchanged, with the same arguments, in time.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::Writer;
use crate::crypto;

/// How long a preview may be confirmed.
pub const LIFETIME_S: i64 = 300;
const VERSION: &str = "pmc1";

/// A token that passed every check.
pub struct Confirmed {
    token: String,
}

impl Confirmed {
    /// The idempotency key a run created under this confirmation carries: replaying the
    /// confirmation makes Prefect return that run instead of creating another.
    pub fn idempotency_key(&self) -> String {
        format!("mcp-confirm-{}", &crypto::sha256_hex(&self.token)[..32])
    }
}

/// A hash of the arguments (without `confirm`), independent of key order.
pub fn arguments_hash<P: Serialize>(params: &P) -> String {
    let mut value = serde_json::to_value(params).expect("parameters serialise to JSON");
    if let Value::Object(map) = &mut value {
        map.remove("confirm");
    }
    sort_keys(&mut value);
    crypto::sha256_hex(&value.to_string())[..16].to_owned()
}

fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// A new token for `tool` with these arguments, and when it expires.
pub fn issue(writer: &Writer, tool: &str, arguments: &str, now: OffsetDateTime) -> (String, OffsetDateTime) {
    let expires = now + time::Duration::seconds(LIFETIME_S);
    let nonce: String = crypto::random_bytes::<8>().iter().map(|b| format!("{b:02x}")).collect();
    let fields =
        [VERSION.to_owned(), expires.unix_timestamp().to_string(), nonce, arguments.to_owned(), caller_tag(writer)];
    let signature = crypto::sign(&writer.key, signed_text(tool, &fields).as_bytes());
    (format!("{}.{signature}", fields.join(".")), expires)
}

/// Checks `token` for `tool` and these arguments; `Err` says, for the model, why it cannot
/// confirm anything and what to do.
pub fn check(
    writer: &Writer,
    tool: &str,
    arguments: &str,
    token: &str,
    now: OffsetDateTime,
) -> Result<Confirmed, String> {
    let again = format!("call {tool} again without confirm for a new preview and token");
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [version, expires, nonce, hashed, caller, signature] = parts[..] else {
        return Err(format!("confirm: not a confirm_token from this server (use the one a preview returned); {again}"));
    };
    if version != VERSION {
        return Err(format!("confirm: not a confirm_token from this server (use the one a preview returned); {again}"));
    }
    if caller != caller_tag(writer) {
        return Err(format!(
            "confirm: this token was issued to another caller (other Prefect credentials or another access token); \
             {again}"
        ));
    }
    let fields = [version, expires, nonce, hashed, caller].map(str::to_owned);
    if !crypto::verify(&writer.key, signed_text(tool, &fields).as_bytes(), signature) {
        return Err(format!("confirm: this token was altered, or was issued for another action than {tool}; {again}"));
    }
    let expires = expires.parse().ok().and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok());
    match expires {
        Some(at) if at > now => {}
        at => {
            let when = at.map(|at| format!(" at {}", crate::tools::format::datetime(at))).unwrap_or_default();
            return Err(format!("confirm: this token expired{when} (tokens last {LIFETIME_S} seconds); {again}"));
        }
    }
    if hashed != arguments {
        return Err(format!(
            "confirm: this token confirms other arguments than these; repeat the previewed call exactly, adding \
             only confirm; or, to act with these arguments, {again}"
        ));
    }
    Ok(Confirmed { token: token.trim().to_owned() })
}

fn signed_text(tool: &str, fields: &[String]) -> String {
    format!("{tool}.{}", fields.join("."))
}

/// Who a token is for, without revealing the key: a short hash of it.
fn caller_tag(writer: &Writer) -> String {
    let digest = Sha256::new().chain_update(b"caller tag").chain_update(writer.key).finalize();
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-05 12:00 UTC);

    fn writer(secret: &str) -> Writer {
        Writer::new("headers:test".into(), &[secret.as_bytes()])
    }

    #[test]
    fn a_token_confirms_its_own_call_only() {
        let alice = writer("alice-key");
        let args = arguments_hash(&json!({"flow_run_id": "r1", "confirm": null}));
        let (token, expires) = issue(&alice, "cancel_flow_run", &args, NOW);
        assert_eq!(expires, NOW + time::Duration::minutes(5));
        assert!(check(&alice, "cancel_flow_run", &args, &token, NOW + time::Duration::minutes(4)).is_ok());

        let refused = |who: &Writer, tool: &str, arguments: &str, token: &str, at: OffsetDateTime| {
            check(who, tool, arguments, token, at).err().expect("refused")
        };
        let later = NOW + time::Duration::seconds(LIFETIME_S);
        assert!(
            refused(&alice, "cancel_flow_run", &args, &token, later).contains("expired at 2026-12-05T12:05:00+00:00")
        );
        assert!(refused(&writer("bob-key"), "cancel_flow_run", &args, &token, NOW).contains("another caller"));
        assert!(refused(&alice, "retry_flow_run", &args, &token, NOW).contains("another action than retry_flow_run"));
        let other = arguments_hash(&json!({"flow_run_id": "r2"}));
        assert!(refused(&alice, "cancel_flow_run", &other, &token, NOW).contains("other arguments"));
        // Pushing the expiry out breaks the signature.
        let mut fields: Vec<String> = token.split('.').map(str::to_owned).collect();
        fields[1] = (NOW + time::Duration::days(1)).unix_timestamp().to_string();
        assert!(refused(&alice, "cancel_flow_run", &args, &fields.join("."), later).contains("altered"));
        for junk in ["", "abc", "pmc0.1.2.3.4.5", "pmc1.1.2.3.4.5.6"] {
            assert!(refused(&alice, "cancel_flow_run", &args, junk, NOW).contains("not a confirm_token"), "{junk}");
        }
    }

    #[test]
    fn the_arguments_hash_ignores_confirm_and_key_order() {
        let a = arguments_hash(&json!({"deployment_id": "d", "parameters": {"x": 1, "y": [{"b": 1, "a": 2}]}}));
        let b = arguments_hash(&json!({"parameters": {"y": [{"a": 2, "b": 1}], "x": 1}, "deployment_id": "d",
                                       "confirm": "t"}));
        assert_eq!(a, b);
        assert_ne!(a, arguments_hash(&json!({"deployment_id": "d", "parameters": {"x": 2, "y": [{"a": 2, "b": 1}]}})));
    }

    #[test]
    fn each_confirmation_has_its_own_idempotency_key() {
        let alice = writer("alice-key");
        let args = arguments_hash(&json!({"deployment_id": "d"}));
        let key = |token: &str| check(&alice, "run_deployment", &args, token, NOW).unwrap().idempotency_key();
        let (first, _) = issue(&alice, "run_deployment", &args, NOW);
        let (second, _) = issue(&alice, "run_deployment", &args, NOW);
        assert_eq!(key(&first), key(&first));
        assert_ne!(key(&first), key(&second));
    }
}
