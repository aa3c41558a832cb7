//! First pages of Prefect list endpoints with an exact `truncated` flag.
//!
//! One extra row (limit+1) tells whether more rows match, but a Prefect server refuses page
//! sizes above its `PREFECT_SERVER_API_DEFAULT_LIMIT` (200) with a 422. At that size the
//! page is read as is and a one-row probe at offset 200 runs alongside it.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Map, Value};

use super::{PrefectClient, PrefectError};
use crate::upstream::Fetch;

/// Largest page a Prefect server hands out in one request.
pub const SERVER_PAGE_MAX: usize = 200;

/// A `<model>/filter` endpoint as the list tools read it.
pub struct Listing {
    pub path: &'static str,
    /// The body key the caller's filter goes under, e.g. "flows".
    pub key: &'static str,
    pub sort: Option<&'static str>,
}

impl Listing {
    /// Up to `limit` rows matching the (already checked) filter, and whether more match.
    pub async fn first_page<T: DeserializeOwned, F: Fetch>(
        &self,
        prefect: &PrefectClient<'_, F>,
        filter: Option<Map<String, Value>>,
        limit: usize,
    ) -> Result<(Vec<T>, bool), PrefectError> {
        let mut body = Map::from_iter([(self.key.to_owned(), filter.map_or(Value::Null, Value::Object))]);
        if let Some(sort) = self.sort {
            body.insert("sort".into(), sort.into());
        }
        first_page(prefect, self.path, body, limit).await
    }
}

/// POSTs `body` plus `limit`/`offset` to `path`: up to `limit` rows from the start of the
/// result, and whether more rows match.
async fn first_page<T: DeserializeOwned, F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    path: &str,
    body: Map<String, Value>,
    limit: usize,
) -> Result<(Vec<T>, bool), PrefectError> {
    let with = |limit: usize, offset: usize| {
        let mut body = body.clone();
        body.insert("limit".into(), limit.into());
        body.insert("offset".into(), offset.into());
        Value::Object(body)
    };
    if limit < SERVER_PAGE_MAX {
        let mut rows: Vec<T> = prefect.post(path, &with(limit + 1, 0)).await?;
        let truncated = rows.len() > limit;
        rows.truncate(limit);
        return Ok((rows, truncated));
    }
    let (page_body, probe_body) = (with(SERVER_PAGE_MAX, 0), with(1, SERVER_PAGE_MAX));
    let (page, probe) = futures::join!(
        prefect.post::<Vec<T>, _>(path, &page_body),
        prefect.post::<Vec<IgnoredAny>, _>(path, &probe_body),
    );
    let mut rows = page?;
    let truncated = !probe?.is_empty() || rows.len() > limit;
    rows.truncate(limit);
    Ok((rows, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{Authorization, Credentials, Source};
    use crate::prefect::testing::FakeUpstream;
    use serde_json::json;

    fn run(fake: &FakeUpstream, limit: usize) -> (Vec<Value>, bool) {
        let credentials = Credentials {
            api_url: url::Url::parse("http://127.0.0.1:4200/api").unwrap(),
            authorization: Authorization::None,
            source: Source::Secrets,
        };
        let prefect = PrefectClient::new(fake, credentials, 1000);
        let body = json!({"sort": "NAME_ASC"}).as_object().unwrap().clone();
        futures::executor::block_on(first_page(&prefect, "flows/filter", body, limit)).unwrap()
    }

    #[test]
    fn small_pages_ask_for_one_extra_row() {
        let fake = FakeUpstream::new().on("POST", "/api/flows/filter", 200, json!([1, 2, 3]));
        assert_eq!(run(&fake, 2), (vec![json!(1), json!(2)], true));
        assert_eq!(fake.body(0), json!({"sort": "NAME_ASC", "limit": 3, "offset": 0}));
        assert!(!run(&fake, 3).1);
    }

    #[test]
    fn full_server_pages_probe_past_the_cap() {
        let fake = FakeUpstream::new().on("POST", "/api/flows/filter", 200, json!([1]));
        assert_eq!(run(&fake, 200), (vec![json!(1)], true));
        let bodies = [fake.body(0), fake.body(1)];
        assert!(bodies.contains(&json!({"sort": "NAME_ASC", "limit": 200, "offset": 0})), "{bodies:?}");
        assert!(bodies.contains(&json!({"sort": "NAME_ASC", "limit": 1, "offset": 200})), "{bodies:?}");
        let empty = FakeUpstream::new().on("POST", "/api/flows/filter", 200, json!([]));
        assert_eq!(run(&empty, 200), (vec![], false));
    }
}
