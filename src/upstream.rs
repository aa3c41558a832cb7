//! The one seam between this server and the network, shared by the Prefect client and the
//! docs proxy.
//!
//! In the Worker this is `worker::Fetch`; in native tests it is an in-memory fake. Keeping
//! the trait this small is what lets every tool run unchanged on both.

use std::cell::Cell;
use std::fmt;
use std::future::Future;

/// An upstream HTTP request: method, absolute URL, headers and an optional body.
pub type UpstreamRequest = http::Request<Option<Vec<u8>>>;
/// An upstream HTTP response with its whole body.
pub type UpstreamResponse = http::Response<Vec<u8>>;

/// Largest upstream body read; a longer one is abandoned (a Worker has 128 MB of memory).
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// No answer within the configured upstream timeout.
    Timeout { after_ms: u32 },
    /// DNS, connection or TLS failure; the text comes from the platform.
    Network(String),
    /// The body was longer than [`MAX_RESPONSE_BYTES`]; reading stopped there.
    TooLarge { limit_bytes: usize },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Timeout { after_ms } => write!(f, "no answer within {after_ms} ms"),
            FetchError::Network(reason) => write!(f, "connection failed: {reason}"),
            FetchError::TooLarge { limit_bytes } => write!(f, "answer larger than {limit_bytes} bytes"),
        }
    }
}

/// Sends one request upstream, giving up after `timeout_ms`. Implementations must not
/// follow redirects: a redirect is returned as-is so the client can refuse to carry
/// credentials to another location.
pub trait Fetch {
    fn fetch(
        &self,
        request: UpstreamRequest,
        timeout_ms: u32,
    ) -> impl Future<Output = Result<UpstreamResponse, FetchError>>;
}

/// Counts the requests passed through it: Cloudflare caps subrequests per invocation, so
/// every tool call reports how many it made.
pub struct Counted<'a, F> {
    inner: &'a F,
    count: Cell<u32>,
}

impl<'a, F: Fetch> Counted<'a, F> {
    pub fn new(inner: &'a F) -> Self {
        Counted { inner, count: Cell::new(0) }
    }

    pub fn count(&self) -> u32 {
        self.count.get()
    }
}

impl<F: Fetch> Fetch for Counted<'_, F> {
    async fn fetch(&self, request: UpstreamRequest, timeout_ms: u32) -> Result<UpstreamResponse, FetchError> {
        self.count.set(self.count.get() + 1);
        self.inner.fetch(request, timeout_ms).await
    }
}
