//! The Cloudflare Worker shell: converts between `worker` and `http` types, reads the
//! deployment's vars and secrets, asks the rate-limit binding, writes the log line, and
//! implements [`Fetch`] with `worker::Fetch`. Every decision is made in [`protocol`].

use std::time::Duration;

use futures::StreamExt;
use futures::future::{Either, select};
use js_sys::Uint8Array;
use worker::{
    AbortController, Context, Delay, Env, Fetch as WorkerFetch, Headers, Method, Request, RequestInit, RequestRedirect,
    Response, Result, console_log, event, kv::KvStore,
};

use crate::oauth::{self, StoreError};
use crate::protocol::log::{self, Incoming};
use crate::protocol::ratelimit::{self, Client};
use crate::protocol::{self, MAX_BODY_BYTES};
use crate::settings::Settings;
use crate::upstream::{Fetch, FetchError, MAX_RESPONSE_BYTES, UpstreamRequest, UpstreamResponse};

#[event(fetch)]
async fn fetch(mut request: Request, env: Env, _ctx: Context) -> Result<Response> {
    let started = js_sys::Date::now();
    let id = log::request_id(request.headers().get("cf-ray")?.as_deref());
    let (method, path) = (request.method().to_string(), request.path());
    let mut response = match serve(&mut request, &env).await {
        Ok(response) => response,
        // Reading the request failed (e.g. a broken body stream): logged as a server error.
        Err(_) => http::Response::builder().status(500).body(Vec::new()).expect("valid response"),
    };
    let incoming = Incoming { id: &id, method: &method, path: &path };
    console_log!("{}", log::finish(&mut response, incoming, Some(js_sys::Date::now() - started)));
    to_worker_response(response)
}

async fn serve(request: &mut Request, env: &Env) -> Result<protocol::Response> {
    // Refuse oversized bodies before reading them.
    if protocol::declared_too_large(request.headers().get("content-length")?.as_deref()) {
        return Ok(protocol::payload_too_large());
    }
    let settings = Settings::from_lookup(|name| {
        env.secret(name).map(|s| s.to_string()).or_else(|_| env.var(name).map(|v| v.to_string())).ok()
    });
    let incoming = match to_http_request(request).await {
        Ok(incoming) => incoming,
        Err(refusal) => return Ok(refusal),
    };
    // Without the binding nothing is limited; a binding that fails lets the request through.
    if let Ok(limiter) = env.rate_limiter(ratelimit::BINDING) {
        let client = Client::identify(incoming.headers(), &settings.access_tokens);
        if limiter.limit(client.key.clone()).await.is_ok_and(|outcome| !outcome.success) {
            return Ok(client.refusal(settings.rate_limit_period_s));
        }
    }
    match env.kv(oauth::BINDING) {
        Ok(kv) => {
            Ok(oauth::handle(incoming, &settings, &Upstream, &OAuthKv(kv), crate::clock::now().unix_timestamp()).await)
        }
        Err(_) => Ok(protocol::handle(incoming, &settings, &Upstream).await),
    }
}

/// The OAuth store on Workers KV.
struct OAuthKv(KvStore);

impl oauth::Store for OAuthKv {
    async fn get(&self, key: &str) -> std::result::Result<Option<String>, StoreError> {
        self.0.get(key).text().await.map_err(|e| StoreError(e.to_string()))
    }

    async fn put(&self, key: &str, value: &str, ttl_s: Option<u64>) -> std::result::Result<(), StoreError> {
        let put = self.0.put(key, value).map_err(|e| StoreError(e.to_string()))?;
        let put = match ttl_s {
            Some(ttl) => put.expiration_ttl(oauth::store::kv_ttl(ttl)),
            None => put,
        };
        put.execute().await.map_err(|e| StoreError(e.to_string()))
    }

    async fn delete(&self, key: &str) -> std::result::Result<(), StoreError> {
        self.0.delete(key).await.map_err(|e| StoreError(e.to_string()))
    }
}

/// The request as an `http::Request`, or the answer to send when it cannot be read.
async fn to_http_request(request: &mut Request) -> std::result::Result<protocol::Request, protocol::Response> {
    let url = request.url().map_err(|_| protocol::unreadable_request())?;
    let mut builder = http::Request::builder().method(request.method().as_ref()).uri(url.as_str());
    for (name, value) in request.headers().entries() {
        builder = builder.header(name, value);
    }
    let body = match request.method() {
        Method::Post => read_body(request).await?,
        _ => Vec::new(),
    };
    builder.body(body).map_err(|_| protocol::unreadable_request())
}

/// The request body, kept only up to the limit (an undeclared length is counted as it
/// streams in; the rest is read and dropped, so memory stays bounded and the connection is
/// left clean), and answered with a 400 when the upload breaks off.
async fn read_body(request: &mut Request) -> std::result::Result<Vec<u8>, protocol::Response> {
    let Ok(mut stream) = request.stream() else { return Ok(Vec::new()) };
    let (mut body, mut over) = (Vec::new(), false);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| protocol::unreadable_request())?;
        over = over || body.len() + chunk.len() > MAX_BODY_BYTES;
        if !over {
            body.extend(chunk);
        }
    }
    if over { Err(protocol::payload_too_large()) } else { Ok(body) }
}

fn to_worker_response(response: protocol::Response) -> Result<Response> {
    let (parts, body) = response.into_parts();
    let headers = Headers::new();
    for (name, value) in &parts.headers {
        headers.append(name.as_str(), value.to_str().unwrap_or_default())?;
    }
    let response = if body.is_empty() { Response::empty()? } else { Response::from_bytes(body)? };
    Ok(response.with_status(parts.status.as_u16()).with_headers(headers))
}

/// Outbound requests through the Workers fetch API.
struct Upstream;

impl Fetch for Upstream {
    async fn fetch(
        &self,
        request: UpstreamRequest,
        timeout_ms: u32,
    ) -> std::result::Result<UpstreamResponse, FetchError> {
        let network = |e: worker::Error| FetchError::Network(e.to_string());
        let (parts, body) = request.into_parts();
        let headers = Headers::new();
        for (name, value) in &parts.headers {
            headers.set(name.as_str(), value.to_str().unwrap_or_default()).map_err(network)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::from(parts.method.to_string()))
            .with_headers(headers)
            // A redirect could carry credentials elsewhere; the client reports it instead.
            .with_redirect(RequestRedirect::Manual)
            .with_body(body.map(|bytes| Uint8Array::from(bytes.as_slice()).into()));
        let outbound = Request::new_with_init(&parts.uri.to_string(), &init).map_err(network)?;

        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async {
            let mut response = WorkerFetch::Request(outbound).send_with_signal(&signal).await.map_err(network)?;
            let body = read_capped(&mut response).await?;
            Ok::<_, FetchError>((response.status_code(), response.headers().clone(), body))
        };
        let deadline = Delay::from(Duration::from_millis(u64::from(timeout_ms)));
        match select(Box::pin(exchange), deadline).await {
            Either::Left((Ok((status, headers, body)), _)) => {
                let mut builder = http::Response::builder().status(status);
                for (name, value) in headers.entries() {
                    builder = builder.header(name, value);
                }
                builder.body(body).map_err(|e| FetchError::Network(e.to_string()))
            }
            Either::Left((Err(e), _)) => {
                controller.abort();
                Err(e)
            }
            Either::Right(_) => {
                controller.abort();
                Err(FetchError::Timeout { after_ms: timeout_ms })
            }
        }
    }
}

/// The response body, refused as soon as it (or its declared length) passes the cap.
async fn read_capped(response: &mut Response) -> std::result::Result<Vec<u8>, FetchError> {
    let too_large = FetchError::TooLarge { limit_bytes: MAX_RESPONSE_BYTES };
    let declared = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_RESPONSE_BYTES) {
        return Err(too_large);
    }
    let Ok(mut stream) = response.stream() else { return Ok(Vec::new()) };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend(chunk.map_err(|e| FetchError::Network(e.to_string()))?);
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(too_large);
        }
    }
    Ok(body)
}
