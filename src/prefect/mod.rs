//! A small, typed Prefect REST client over [`Fetch`]: read-only, except for a client made
//! for an action tool ([`PrefectClient::for_actions`]).

mod actions;
mod allowlist;
mod cloud;
mod csrf;
mod error;
pub mod flow_names;
pub mod limits;
pub mod paging;
pub mod pools;
pub mod records;

use futures::lock::Mutex;
use http::{Method, header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

pub use actions::Orchestration;
pub use cloud::{CloudWorkspace, WorkspaceAccess, reachable_workspaces};
pub use error::PrefectError;

use crate::credentials::{Authorization, Credentials};
use crate::upstream::{Fetch, FetchError, UpstreamResponse};
use csrf::{CsrfToken, TokenKey};

/// The REST API version this server speaks, sent like the Prefect client does.
const API_VERSION: &str = "0.8.4";
const USER_AGENT: &str = concat!("prefect-mcp-worker/", env!("CARGO_PKG_VERSION"));

/// How a caller names a deployment: by id, or by its flow's name and its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentRef {
    Id(String),
    Name { flow: String, deployment: String },
}

impl std::fmt::Display for DeploymentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeploymentRef::Id(id) => write!(f, "deployment {id}"),
            DeploymentRef::Name { flow, deployment } => write!(f, "deployment {flow}/{deployment}"),
        }
    }
}

/// One client per tool call, holding the credentials of that request.
pub struct PrefectClient<'f, F: Fetch> {
    fetch: &'f F,
    api_url: Url,
    authorization: Authorization,
    timeout_ms: u32,
    /// Learnt on the first POST a CSRF-protected server refuses, or kept from an earlier call
    /// with the same URL and credentials; `None` on servers without CSRF protection (the
    /// default), which then cost no extra request.
    csrf: Mutex<Option<CsrfToken>>,
    csrf_key: TokenKey,
    /// May send the action tools' writes (see [`allowlist`]).
    actions: bool,
}

impl<'f, F: Fetch> PrefectClient<'f, F> {
    pub fn new(fetch: &'f F, credentials: Credentials, timeout_ms: u32) -> Self {
        let csrf_key = TokenKey::new(credentials.api_url.as_str(), credentials.authorization.header_value().as_deref());
        PrefectClient {
            fetch,
            api_url: credentials.api_url,
            authorization: credentials.authorization,
            timeout_ms,
            csrf: Mutex::new(csrf_key.kept()),
            csrf_key,
            actions: false,
        }
    }

    /// This client, allowed to send the action tools' writes too.
    pub fn for_actions(mut self) -> Self {
        self.actions = true;
        self
    }

    /// The workspace API URL, without a trailing slash.
    pub fn api_url(&self) -> &str {
        self.api_url.as_str().trim_end_matches('/')
    }

    /// The Cloud account and workspace when the API URL is a Prefect Cloud workspace URL.
    pub fn cloud_workspace(&self) -> Option<CloudWorkspace> {
        CloudWorkspace::from_api_url(&self.api_url)
    }

    /// Whether requests carry a Prefect API key (Bearer), as Prefect Cloud requires.
    pub fn has_api_key(&self) -> bool {
        matches!(self.authorization, Authorization::Bearer(_))
    }

    /// `GET {api_url}/{path}`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, PrefectError> {
        self.send(Method::GET, self.endpoint(path), None::<&()>).await
    }

    /// `POST {api_url}/{path}` with a JSON body; Prefect's filter endpoints are reads.
    pub async fn post<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, PrefectError> {
        self.send(Method::POST, self.endpoint(path), Some(body)).await
    }

    /// [`PrefectClient::post`] that also says whether the server created something new (201)
    /// rather than answering with what exists already (200, e.g. an idempotent repeat).
    pub async fn post_creating<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<(T, bool), PrefectError> {
        let (status, value) = self.exchange_json(Method::POST, self.endpoint(path), Some(body)).await?;
        Ok((value, status == http::StatusCode::CREATED))
    }

    /// `POST {kind}/filter` for the one object whose `field` is `key`.
    pub async fn find_one<T: DeserializeOwned>(
        &self,
        kind: &str,
        field: &str,
        key: &str,
    ) -> Result<Option<T>, PrefectError> {
        let body = serde_json::json!({kind: {field: {"any_": [key]}}, "limit": 1, "offset": 0});
        let mut rows: Vec<T> = self.post(&format!("{kind}/filter"), &body).await?;
        Ok(if rows.is_empty() { None } else { Some(rows.swap_remove(0)) })
    }

    /// The deployment `wanted` names: one request.
    pub async fn deployment(&self, wanted: &DeploymentRef) -> Result<Option<records::DeploymentRecord>, PrefectError> {
        match wanted {
            DeploymentRef::Id(id) => self.find_one("deployments", "id", id).await,
            DeploymentRef::Name { flow, deployment } => {
                let body = serde_json::json!({"flows": {"name": {"any_": [flow]}},
                                              "deployments": {"name": {"any_": [deployment]}}, "limit": 1, "offset": 0});
                let mut rows: Vec<records::DeploymentRecord> = self.post("deployments/filter", &body).await?;
                Ok(if rows.is_empty() { None } else { Some(rows.swap_remove(0)) })
            }
        }
    }

    /// The name of flow `id` (one request); `None` without an id.
    pub async fn flow_name(&self, id: Option<&str>) -> Result<Option<String>, PrefectError> {
        let Some(id) = id else { return Ok(None) };
        Ok(self.find_one::<records::FlowRecord>("flows", "id", id).await?.map(|flow| flow.name))
    }

    /// `GET` on an absolute URL under the same origin (Cloud account-level endpoints).
    pub async fn get_url<T: DeserializeOwned>(&self, url: Url) -> Result<T, PrefectError> {
        if url.origin() != self.api_url.origin() {
            return Err(PrefectError::ForeignHost { host: url.host_str().unwrap_or_default().to_owned() });
        }
        self.send(Method::GET, url, None::<&()>).await
    }

    fn endpoint(&self, path: &str) -> Url {
        let mut url = self.api_url.clone();
        let joined = format!("{}/{}", self.api_url.path().trim_end_matches('/'), path.trim_start_matches('/'));
        let (path, query) = joined.split_once('?').map_or((joined.as_str(), None), |(p, q)| (p, Some(q)));
        url.set_path(path);
        url.set_query(query);
        url
    }

    async fn send<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<T, PrefectError> {
        self.exchange_json(method, url, body).await.map(|(_, value)| value)
    }

    async fn exchange_json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<(http::StatusCode, T), PrefectError> {
        let effect = allowlist::check(&method, &url, &self.api_url, self.actions)?;
        let body = body.map(serde_json::to_vec).transpose().map_err(|e| PrefectError::InvalidRequest(e.to_string()))?;
        // GETs never need the token, and the token request itself is a GET.
        let csrf = if method == Method::GET { None } else { self.csrf.lock().await.clone() };
        let mut response = self.exchange(&method, &url, body.clone(), csrf.as_ref(), effect).await?;
        if method != Method::GET && is_csrf_refusal(&response) {
            let token = self.fresh_csrf_token(csrf).await?;
            response = self.exchange(&method, &url, body, Some(&token), effect).await?;
        }
        let path = url.path();
        if !response.status().is_success() {
            return Err(PrefectError::from_status(&method, path, response));
        }
        // A write may answer 204 with no body at all.
        let body = if response.body().is_empty() { b"null".as_slice() } else { response.body() };
        let value = serde_json::from_slice(body).map_err(|e| PrefectError::InvalidResponse {
            method,
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Ok((response.status(), value))
    }

    /// A token newer than `stale`: the one a concurrent request just fetched, or a new one.
    async fn fresh_csrf_token(&self, stale: Option<CsrfToken>) -> Result<CsrfToken, PrefectError> {
        let mut current = self.csrf.lock().await;
        if let Some(token) = current.as_ref().filter(|token| Some(*token) != stale.as_ref()) {
            return Ok(token.clone());
        }
        let client = uuid::Uuid::new_v4();
        // Boxed: `get` leads back to `send`, which called this.
        let token: CsrfToken = Box::pin(self.get(&format!("csrf-token?client={client}"))).await?;
        self.csrf_key.keep(&token);
        *current = Some(token.clone());
        Ok(token)
    }

    async fn exchange(
        &self,
        method: &Method,
        url: &Url,
        body: Option<Vec<u8>>,
        csrf: Option<&CsrfToken>,
        effect: allowlist::Effect,
    ) -> Result<UpstreamResponse, PrefectError> {
        let request = || {
            let mut request = http::Request::builder()
                .method(method.clone())
                .uri(url.as_str())
                .header(header::ACCEPT, "application/json")
                .header(header::USER_AGENT, USER_AGENT)
                .header("x-prefect-api-version", API_VERSION);
            if let Some(value) = self.authorization.header_value() {
                request = request.header(header::AUTHORIZATION, value);
            }
            if body.is_some() {
                request = request.header(header::CONTENT_TYPE, "application/json");
            }
            if let Some(csrf) = csrf {
                request = request.header("prefect-csrf-token", &csrf.token).header("prefect-csrf-client", &csrf.client);
            }
            request.body(body.clone()).map_err(|e| PrefectError::InvalidRequest(e.to_string()))
        };
        // A pooled connection that the server closed just as it was reused fails before any
        // answer (seen under concurrent load). A read is sent once more, as the Prefect client
        // retries its connection errors; a write never is (it may have arrived), nor a timeout.
        let response = match self.fetch.fetch(request()?, self.timeout_ms).await {
            Err(FetchError::Network(_)) if effect == allowlist::Effect::Reads => {
                self.fetch.fetch(request()?, self.timeout_ms).await
            }
            first => first,
        };
        let path = || url.path().to_owned();
        response.map_err(|e| match e {
            FetchError::Timeout { after_ms } => {
                PrefectError::Timeout { method: method.clone(), path: path(), after_ms }
            }
            FetchError::Network(reason) => {
                PrefectError::Unreachable { host: url.host_str().unwrap_or_default().to_owned(), reason }
            }
            FetchError::TooLarge { limit_bytes } => {
                PrefectError::TooLarge { method: method.clone(), path: path(), limit_bytes }
            }
        })
    }
}

/// Prefect's CSRF middleware answers 403 with "Missing CSRF token." or "Invalid CSRF token or
/// client identifier." when a POST lacks a valid token.
fn is_csrf_refusal(response: &UpstreamResponse) -> bool {
    #[derive(Deserialize)]
    struct Detail {
        detail: String,
    }
    response.status() == http::StatusCode::FORBIDDEN
        && serde_json::from_slice::<Detail>(response.body()).is_ok_and(|d| d.detail.contains("CSRF token"))
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::testing::FakeUpstream;
    use super::*;
    use crate::credentials::Source;
    use crate::upstream::UpstreamRequest;
    use serde_json::{Value, json};

    fn client<'f>(fake: &'f FakeUpstream, url: &str, authorization: Authorization) -> PrefectClient<'f, FakeUpstream> {
        let credentials = Credentials { api_url: Url::parse(url).unwrap(), authorization, source: Source::Secrets };
        PrefectClient::new(fake, credentials, 1000)
    }

    #[test]
    fn sends_json_auth_and_api_version() {
        let fake = FakeUpstream::new().on("POST", "/api/flows/filter", 200, json!([]));
        let prefect = client(&fake, "http://127.0.0.1:4200/api", Authorization::Basic("dTpw".into()));
        let _: Value = futures::executor::block_on(prefect.post("flows/filter", &json!({"limit": 1}))).unwrap();
        let sent = fake.requests();
        assert_eq!(sent.len(), 1);
        let request = &sent[0];
        assert_eq!(request.uri(), "http://127.0.0.1:4200/api/flows/filter");
        assert_eq!(request.headers()["authorization"], "Basic dTpw");
        assert_eq!(request.headers()["x-prefect-api-version"], API_VERSION);
        assert_eq!(request.headers()["content-type"], "application/json");
        assert_eq!(request.body().as_deref(), Some(br#"{"limit":1}"#.as_slice()));
    }

    /// Fails the first `failures` requests with `error`, then answers `[]`.
    struct Flaky {
        failures: u32,
        error: FetchError,
        calls: std::cell::Cell<u32>,
    }

    impl Fetch for Flaky {
        async fn fetch(&self, _: UpstreamRequest, _: u32) -> Result<UpstreamResponse, FetchError> {
            self.calls.set(self.calls.get() + 1);
            if self.calls.get() <= self.failures {
                return Err(self.error.clone());
            }
            Ok(http::Response::builder().status(200).body(b"[]".to_vec()).unwrap())
        }
    }

    /// POSTs `path` (as an action tool's client) through a [`Flaky`] upstream: the result and
    /// how many requests went out.
    fn flaky_post(path: &str, failures: u32, error: FetchError) -> (Result<Value, PrefectError>, u32) {
        let fetch = Flaky { failures, error, calls: std::cell::Cell::new(0) };
        let credentials = Credentials {
            api_url: Url::parse("http://127.0.0.1:4200/api").unwrap(),
            authorization: Authorization::None,
            source: Source::Secrets,
        };
        let prefect = PrefectClient::new(&fetch, credentials, 1000).for_actions();
        let result = futures::executor::block_on(prefect.post(path, &json!({"limit": 1})));
        (result, fetch.calls.get())
    }

    fn flaky(failures: u32, error: FetchError) -> (Result<Value, PrefectError>, u32) {
        flaky_post("flows/filter", failures, error)
    }

    #[test]
    fn a_write_is_never_sent_twice() {
        let lost = FetchError::Network("Network connection lost.".into());
        let path = "flow_runs/0e6b1c8e-0000-4000-8000-000000000000/set_state";
        let (result, calls) = flaky_post(path, 1, lost);
        assert!(result.unwrap_err().to_string().contains("Network connection lost"));
        assert_eq!(calls, 1, "it may have arrived");
    }

    #[test]
    fn a_lost_connection_is_retried_once_and_timeouts_never() {
        let lost = FetchError::Network("Network connection lost.".into());
        let (result, calls) = flaky(1, lost.clone());
        assert_eq!((result.unwrap(), calls), (json!([]), 2));
        let (result, calls) = flaky(2, lost);
        assert!(result.unwrap_err().to_string().contains("Network connection lost"));
        assert_eq!(calls, 2);
        let (result, calls) = flaky(1, FetchError::Timeout { after_ms: 1000 });
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }

    #[test]
    fn no_authorization_header_without_credentials() {
        let fake = FakeUpstream::new().on("GET", "/api/admin/version", 200, json!("3.9.1"));
        let prefect = client(&fake, "http://127.0.0.1:4200/api/", Authorization::None);
        let version: String = futures::executor::block_on(prefect.get("admin/version")).unwrap();
        assert_eq!(version, "3.9.1");
        assert!(fake.requests()[0].headers().get("authorization").is_none());
    }

    /// A Prefect server with CSRF protection on: POSTs need the token last issued to their client.
    #[derive(Default)]
    struct CsrfServer {
        issued: std::cell::RefCell<Vec<(String, String)>>,
        sent: std::cell::RefCell<Vec<(String, Option<String>)>>,
    }

    impl Fetch for CsrfServer {
        async fn fetch(&self, request: UpstreamRequest, _: u32) -> Result<UpstreamResponse, FetchError> {
            yield_once().await; // as a network would, so concurrent requests interleave
            let header = |name: &str| request.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
            self.sent.borrow_mut().push((request.uri().path().to_owned(), header("prefect-csrf-token")));
            let (status, body) = if request.method() == Method::GET {
                let client = request.uri().query().unwrap().strip_prefix("client=").unwrap().to_owned();
                let token = format!("token-{}", self.issued.borrow().len());
                self.issued.borrow_mut().push((client.clone(), token.clone()));
                (200, json!({"token": token, "client": client, "expiration": "2026-11-28T00:00:00Z"}))
            } else {
                let presented = header("prefect-csrf-client").zip(header("prefect-csrf-token"));
                match presented {
                    Some(pair) if self.issued.borrow().last() == Some(&pair) => (200, json!([])),
                    Some(_) => (403, json!({"detail": "Invalid CSRF token or client identifier."})),
                    None => (403, json!({"detail": "Missing CSRF token."})),
                }
            };
            Ok(http::Response::builder().status(status).body(body.to_string().into_bytes()).unwrap())
        }
    }

    async fn yield_once() {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                return std::task::Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        })
        .await
    }

    #[test]
    fn csrf_protected_servers_get_one_token_shared_by_concurrent_posts() {
        let server = CsrfServer::default();
        let credentials = Credentials {
            api_url: Url::parse("http://127.0.0.1:4200/api").unwrap(),
            authorization: Authorization::None,
            source: Source::Secrets,
        };
        let prefect = PrefectClient::new(&server, credentials, 1000);
        let body = json!({});
        let post = |path: &'static str| prefect.post::<Value, _>(path, &body);
        let (a, b, c) = futures::executor::block_on(async {
            futures::join!(post("flows/filter"), post("logs/filter"), post("flow_runs/filter"))
        });
        assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (json!([]), json!([]), json!([])));
        // All three are refused once; the first refusal fetches a token, the others reuse it.
        assert_eq!(server.issued.borrow().len(), 1, "one token for the whole call");
        let tokens_sent = server.sent.borrow().iter().filter(|(_, token)| token.is_some()).count();
        assert_eq!((server.sent.borrow().len(), tokens_sent), (7, 3));

        // Once learnt, the token goes with every POST.
        let _: Value = futures::executor::block_on(post("flows/filter")).unwrap();
        assert_eq!(server.sent.borrow().last().unwrap(), &("/api/flows/filter".to_owned(), Some("token-0".to_owned())));
    }

    #[test]
    fn later_calls_with_the_same_credentials_start_with_the_kept_token() {
        let server = CsrfServer::default();
        let with = |auth_string: &str| {
            let credentials = Credentials {
                api_url: Url::parse("http://127.0.0.1:4200/api").unwrap(),
                authorization: Authorization::basic(auth_string),
                source: Source::Secrets,
            };
            PrefectClient::new(&server, credentials, 1000)
        };
        let read = |prefect: PrefectClient<'_, CsrfServer>| {
            futures::executor::block_on(prefect.post::<Value, _>("flows/filter", &json!({}))).unwrap();
        };
        read(with("a:b"));
        assert_eq!(server.sent.borrow().len(), 3, "refused, token, accepted");

        read(with("a:b"));
        assert_eq!(server.sent.borrow().len(), 4, "a later call sends the kept token at once");
        assert_eq!(server.sent.borrow()[3], ("/api/flows/filter".to_owned(), Some("token-0".to_owned())));

        read(with("a:c"));
        assert_eq!(server.issued.borrow().len(), 2, "other credentials learn their own token");

        // This server honours only its newest token: the kept one is refused and replaced.
        read(with("a:b"));
        assert_eq!(server.issued.borrow().len(), 3);
        read(with("a:b"));
        assert_eq!(server.sent.borrow().last().unwrap(), &("/api/flows/filter".to_owned(), Some("token-2".to_owned())));
    }

    #[test]
    fn other_refusals_are_not_retried() {
        let fake =
            FakeUpstream::new().on("POST", "/api/flows/filter", 403, json!({"detail": "Not allowed to read flows."}));
        let prefect = client(&fake, "http://127.0.0.1:4200/api", Authorization::None);
        let err = futures::executor::block_on(prefect.post::<Value, _>("flows/filter", &json!({}))).unwrap_err();
        assert!(matches!(err, PrefectError::Forbidden { .. }), "{err:?}");
        assert_eq!(fake.requests().len(), 1);
    }

    #[test]
    fn refuses_absolute_urls_on_other_hosts() {
        let fake = FakeUpstream::new();
        let prefect =
            client(&fake, "https://api.prefect.cloud/api/accounts/a/workspaces/w", Authorization::bearer("k"));
        let err =
            futures::executor::block_on(prefect.get_url::<Value>(Url::parse("https://evil.example/api/me/").unwrap()))
                .unwrap_err();
        assert!(matches!(err, PrefectError::ForeignHost { .. }));
        assert!(fake.requests().is_empty());
    }
}
