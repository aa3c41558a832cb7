//! The primitives of the OAuth server and of the action tools' confirmation tokens: random
//! secrets, hashes, HMAC signatures and AES-256-GCM encryption (RustCrypto, randomness from
//! `getrandom`).
//!
//! A personal grant's Prefect credentials are encrypted under a random per-grant data key.
//! That key is stored only wrapped (encrypted) under keys derived from each live code,
//! access token and refresh token, so the storage alone opens nothing: the bearer of a
//! token brings the missing key with it.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit as _, Mac};
use sha2::{Digest, Sha256};

pub type Key = [u8; 32];

const NONCE_BYTES: usize = 12;
/// Domain separation for the keys derived from tokens.
const WRAP_LABEL: &[u8] = b"prefect-mcp oauth token wrapping key v1";

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // Only fails when the platform has no randomness at all; nothing safe can continue then.
    getrandom::fill(&mut bytes).expect("the platform provides randomness");
    bytes
}

/// A new random secret: 32 bytes, base64url without padding (43 characters).
pub fn random_secret() -> String {
    B64.encode(random_bytes::<32>())
}

/// A new random identifier: 16 bytes, base64url (22 characters).
pub fn random_id() -> String {
    B64.encode(random_bytes::<16>())
}

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// `base64url(SHA-256(verifier))`, the PKCE S256 transform (RFC 7636 §4.2).
pub fn pkce_s256(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether two secrets are equal, compared through their SHA-256 digests so that the time
/// taken says nothing about where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length")
}

pub fn sign(key: &[u8], message: &[u8]) -> String {
    let mut mac = mac(key);
    mac.update(message);
    B64.encode(mac.finalize().into_bytes())
}

/// Checks a [`sign`] signature in constant time.
pub fn verify(key: &[u8], message: &[u8], signature: &str) -> bool {
    let Ok(tag) = B64.decode(signature) else { return false };
    let mut mac = mac(key);
    mac.update(message);
    mac.verify_slice(&tag).is_ok()
}

/// Encrypts with AES-256-GCM under a fresh random nonce; `aad` binds the ciphertext to its
/// context (e.g. its grant), so it cannot be moved to another record.
pub fn seal(key: &Key, plaintext: &[u8], aad: &[u8]) -> String {
    let nonce = random_bytes::<NONCE_BYTES>();
    let cipher = Aes256Gcm::new(key.into());
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .expect("AES-GCM encrypts any message under 64 GB");
    B64.encode([nonce.as_slice(), &sealed].concat())
}

/// Decrypts a [`seal`] result; `None` when the key, the context or the text is wrong.
pub fn open(key: &Key, sealed: &str, aad: &[u8]) -> Option<Vec<u8>> {
    let bytes = B64.decode(sealed).ok()?;
    if bytes.len() < NONCE_BYTES {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
    Aes256Gcm::new(key.into()).decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad }).ok()
}

/// The key a token wraps the data key with: HMAC-SHA256 of the token under a fixed label.
/// Tokens carry 256 random bits, so no slow key derivation is needed.
fn wrapping_key(token: &str) -> Key {
    let mut mac = mac(WRAP_LABEL);
    mac.update(token.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The data key encrypted under a key only `token` yields.
pub fn wrap(data_key: &Key, token: &str) -> String {
    seal(&wrapping_key(token), data_key, b"data key")
}

pub fn unwrap(wrapped: &str, token: &str) -> Option<Key> {
    open(&wrapping_key(token), wrapped, b"data key")?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_text_opens_only_with_its_key_and_context() {
        let key = random_bytes::<32>();
        let sealed = seal(&key, b"pnu_secret", b"grant-1");
        assert!(!sealed.contains("pnu_secret"));
        assert_eq!(open(&key, &sealed, b"grant-1").unwrap(), b"pnu_secret");
        assert_eq!(open(&key, &sealed, b"grant-2"), None);
        assert_eq!(open(&random_bytes::<32>(), &sealed, b"grant-1"), None);
        assert_eq!(open(&key, "not base64 !", b"grant-1"), None);
        assert_ne!(seal(&key, b"pnu_secret", b"grant-1"), sealed, "every seal takes a new nonce");
    }

    #[test]
    fn a_wrapped_key_opens_only_with_its_token() {
        let data_key = random_bytes::<32>();
        let wrapped = wrap(&data_key, "grant:token-a");
        assert_eq!(unwrap(&wrapped, "grant:token-a"), Some(data_key));
        assert_eq!(unwrap(&wrapped, "grant:token-b"), None);
    }

    #[test]
    fn signatures_fail_on_any_change() {
        let signature = sign(b"key", b"message");
        assert!(verify(b"key", b"message", &signature));
        assert!(!verify(b"key", b"messagE", &signature));
        assert!(!verify(b"other key", b"message", &signature));
        assert!(!verify(b"key", b"message", &signature[1..]));
    }

    #[test]
    fn pkce_matches_an_independent_implementation() {
        // Python: base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mJ0kJAtOJpjWmsLZ9lkW0Mh0I1R0uj6QjKcXvNW"),
            "68bsZmgXMrJrGDZy7EoA3yJi9hqkx2FAinC4miUCDEU"
        );
    }
}
