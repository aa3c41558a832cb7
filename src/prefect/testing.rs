//! An in-memory upstream for unit tests: canned answers per method and path, and a record
//! of every request so tests can assert bodies, headers and subrequest counts.

use std::cell::RefCell;

use serde_json::Value;

use super::PrefectClient;
use crate::credentials::{Authorization, Credentials, Source};
use crate::upstream::{Fetch, FetchError, UpstreamRequest, UpstreamResponse};

type Responder = Box<dyn Fn(&Value) -> (u16, Value)>;
type Fallback = Box<dyn Fn(&str, &str) -> (u16, Value)>;

enum Answer {
    Json(u16, Value),
    Fail(FetchError),
    /// Computed from the request's JSON body (`null` without one), e.g. to serve pages.
    Computed(Responder),
}

#[derive(Default)]
pub struct FakeUpstream {
    routes: Vec<(String, String, Answer)>,
    sent: RefCell<Vec<UpstreamRequest>>,
    otherwise: Option<Fallback>,
}

impl FakeUpstream {
    pub fn new() -> Self {
        Self::default()
    }

    /// A client of the Prefect API at `url`, without credentials, answered by this fake.
    pub fn client(&self, url: &str) -> PrefectClient<'_, Self> {
        let credentials = Credentials {
            api_url: url::Url::parse(url).unwrap(),
            authorization: Authorization::None,
            source: Source::Secrets,
        };
        PrefectClient::new(self, credentials, 1000)
    }

    /// Answers `method path` with `status` and a JSON body. A `path` with `?query` matches
    /// only that query; one without matches any query. A later route for the same request
    /// replaces an earlier one.
    pub fn on(mut self, method: &str, path: &str, status: u16, body: Value) -> Self {
        self.routes.push((method.into(), path.into(), Answer::Json(status, body)));
        self
    }

    /// Fails `method path` at the transport level.
    pub fn failing(mut self, method: &str, path: &str, error: FetchError) -> Self {
        self.routes.push((method.into(), path.into(), Answer::Fail(error)));
        self
    }

    /// Answers `method path` with what `respond` makes of the request's JSON body.
    pub fn answering(mut self, method: &str, path: &str, respond: impl Fn(&Value) -> (u16, Value) + 'static) -> Self {
        self.routes.push((method.into(), path.into(), Answer::Computed(Box::new(respond))));
        self
    }

    /// Answers every request without a route with what `respond` makes of its method and path.
    pub fn otherwise(mut self, respond: impl Fn(&str, &str) -> (u16, Value) + 'static) -> Self {
        self.otherwise = Some(Box::new(respond));
        self
    }

    pub fn requests(&self) -> Vec<UpstreamRequest> {
        self.sent.borrow().clone()
    }

    /// The JSON body of the `index`-th request.
    pub fn body(&self, index: usize) -> Value {
        let sent = self.sent.borrow();
        serde_json::from_slice(sent[index].body().as_deref().expect("request has a body")).unwrap()
    }

    /// The JSON body of the first request to `path`.
    pub fn body_to(&self, path: &str) -> Value {
        let index = self.sent.borrow().iter().position(|r| r.uri().path() == path);
        self.body(index.unwrap_or_else(|| panic!("no request to {path}")))
    }
}

impl Fetch for FakeUpstream {
    async fn fetch(&self, request: UpstreamRequest, _timeout_ms: u32) -> Result<UpstreamResponse, FetchError> {
        let (method, path) = (request.method().to_string(), request.uri().path().to_owned());
        let with_query = request.uri().path_and_query().map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
        self.sent.borrow_mut().push(request);
        // The last route registered for a request wins, so a test can override a default.
        let route = |wanted: &str| self.routes.iter().rev().find(|(m, p, _)| *m == method && p == wanted);
        let answer = route(&with_query).or_else(|| route(&path)).map(|(_, _, a)| a);
        match answer {
            Some(Answer::Json(status, body)) => {
                Ok(http::Response::builder().status(*status).body(body.to_string().into_bytes()).unwrap())
            }
            Some(Answer::Fail(error)) => Err(error.clone()),
            Some(Answer::Computed(respond)) => {
                let sent = self.sent.borrow();
                let body = sent.last().and_then(|r| r.body().as_deref()).and_then(|b| serde_json::from_slice(b).ok());
                let (status, answer) = respond(&body.unwrap_or(Value::Null));
                Ok(http::Response::builder().status(status).body(answer.to_string().into_bytes()).unwrap())
            }
            None if self.otherwise.is_some() => {
                let (status, answer) = (self.otherwise.as_ref().unwrap())(&method, &path);
                Ok(http::Response::builder().status(status).body(answer.to_string().into_bytes()).unwrap())
            }
            None => Ok(http::Response::builder().status(404).body(br#"{"detail":"Not Found"}"#.to_vec()).unwrap()),
        }
    }
}
