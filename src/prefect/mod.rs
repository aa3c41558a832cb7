//! A small, typed, read-only Prefect REST client over [`Fetch`].

mod allowlist;
mod cloud;
mod error;
mod fetch;

use http::{Method, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

pub use cloud::CloudWorkspace;
pub use error::PrefectError;
pub use fetch::{Counted, Fetch, FetchError, MAX_RESPONSE_BYTES, UpstreamRequest, UpstreamResponse};

use crate::credentials::{Authorization, Credentials};

/// The REST API version this server speaks, sent like the Prefect client does.
pub const API_VERSION: &str = "0.8.4";
const USER_AGENT: &str = concat!("prefect-mcp-worker/", env!("CARGO_PKG_VERSION"));

/// One client per tool call, holding the credentials of that request.
pub struct PrefectClient<'f, F: Fetch> {
    fetch: &'f F,
    api_url: Url,
    authorization: Authorization,
    timeout_ms: u32,
}

impl<'f, F: Fetch> PrefectClient<'f, F> {
    pub fn new(fetch: &'f F, credentials: Credentials, timeout_ms: u32) -> Self {
        PrefectClient { fetch, api_url: credentials.api_url, authorization: credentials.authorization, timeout_ms }
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
        allowlist::check(&method, &url, &self.api_url)?;
        let path = url.path().to_owned();
        let body = body
            .map(|body| serde_json::to_vec(body).map_err(|e| PrefectError::InvalidRequest(e.to_string())))
            .transpose()?;
        let build = || {
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
            request.body(body.clone()).map_err(|e| PrefectError::InvalidRequest(e.to_string()))
        };

        // A pooled connection that the server closed just as it was reused fails before any
        // answer (seen under concurrent load). Every request here is a read (allowlist), so it
        // is sent once more, as the Prefect client retries its connection errors; timeouts are not.
        let response = match self.fetch.fetch(build()?, self.timeout_ms).await {
            Err(FetchError::Network(_)) => self.fetch.fetch(build()?, self.timeout_ms).await,
            first => first,
        };
        let response = response.map_err(|e| match e {
            FetchError::Timeout { after_ms } => {
                PrefectError::Timeout { method: method.clone(), path: path.clone(), after_ms }
            }
            FetchError::Network(reason) => {
                PrefectError::Unreachable { host: url.host_str().unwrap_or_default().to_owned(), reason }
            }
            FetchError::TooLarge { limit_bytes } => {
                PrefectError::TooLarge { method: method.clone(), path: path.clone(), limit_bytes }
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(PrefectError::from_status(&method, &path, response));
        }
        serde_json::from_slice(response.body()).map_err(|e| PrefectError::InvalidResponse {
            method,
            path,
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::testing::FakeUpstream;
    use super::*;
    use crate::credentials::Source;
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

    fn flaky(failures: u32, error: FetchError) -> (Result<Value, PrefectError>, u32) {
        let fetch = Flaky { failures, error, calls: std::cell::Cell::new(0) };
        let credentials = Credentials {
            api_url: Url::parse("http://127.0.0.1:4200/api").unwrap(),
            authorization: Authorization::None,
            source: Source::Secrets,
        };
        let prefect = PrefectClient::new(&fetch, credentials, 1000);
        let result = futures::executor::block_on(prefect.post("flows/filter", &json!({"limit": 1})));
        (result, fetch.calls.get())
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
