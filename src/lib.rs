//! An MCP server for Prefect that runs as a Cloudflare Worker: it reads, and acts only where
//! the operator allows writes.
//!
//! The crate is platform-neutral except for [`worker`], the thin wasm32 shell: the MCP
//! endpoint ([`protocol`]) takes an `http::Request` and an upstream [`upstream::Fetch`]
//! implementation, so the same code is exercised natively by `cargo test` and inside
//! workerd by the integration tests.

pub mod auth_tokens;
pub mod clock;
pub mod credentials;
pub mod crypto;
pub mod oauth;
pub mod prefect;
pub mod prompts;
pub mod protocol;
pub mod settings;
pub mod tools;
pub mod upstream;

#[cfg(target_arch = "wasm32")]
mod worker;
