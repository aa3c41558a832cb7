//! Reading more rows than Prefect serves per request.

use futures::future::try_join_all;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::prefect::{Fetch, PrefectClient, PrefectError};

/// Prefect servers refuse a `limit` above this (their default API limit).
pub const SERVER_PAGE: usize = 200;

/// The first `rows` rows of `POST {path}`; `query` holds the filters and sort, and this adds
/// `limit`/`offset`. The first page is read alone (most answers fit one page); when it comes
/// back full, the remaining pages are read concurrently.
pub async fn filter_rows<T: DeserializeOwned, F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    path: &str,
    query: &Value,
    rows: usize,
) -> Result<Vec<T>, PrefectError> {
    let page = |offset: usize| {
        let mut body = query.clone();
        if let Value::Object(map) = &mut body {
            map.insert("limit".into(), json!(SERVER_PAGE.min(rows - offset)));
            map.insert("offset".into(), json!(offset));
        }
        async move { prefect.post::<Vec<T>, _>(path, &body).await }
    };
    let mut found = page(0).await?;
    if found.len() < SERVER_PAGE.min(rows) {
        return Ok(found);
    }
    let rest = try_join_all((SERVER_PAGE..rows).step_by(SERVER_PAGE).map(page)).await?;
    found.extend(rest.into_iter().flatten());
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{Authorization, Credentials, Source};
    use crate::prefect::testing::FakeUpstream;

    fn read(fake: &FakeUpstream, rows: usize) -> Vec<Value> {
        let credentials = Credentials {
            api_url: url::Url::parse("http://127.0.0.1:4200/api").unwrap(),
            authorization: Authorization::None,
            source: Source::Secrets,
        };
        let prefect = PrefectClient::new(fake, credentials, 1000);
        futures::executor::block_on(filter_rows(&prefect, "logs/filter", &json!({"sort": "TIMESTAMP_ASC"}), rows)).unwrap()
    }

    /// A server holding `total` numbered rows.
    fn server(total: usize) -> FakeUpstream {
        FakeUpstream::new().answering("POST", "/api/logs/filter", move |body| {
            let (limit, offset) = (body["limit"].as_u64().unwrap() as usize, body["offset"].as_u64().unwrap() as usize);
            assert!(limit <= SERVER_PAGE);
            (200, json!((offset..total.min(offset + limit)).collect::<Vec<_>>()))
        })
    }

    #[test]
    fn a_short_first_page_is_the_only_request() {
        let fake = server(30);
        assert_eq!(read(&fake, 101).len(), 30);
        assert_eq!(fake.requests().len(), 1);
        assert_eq!(fake.body(0), json!({"sort": "TIMESTAMP_ASC", "limit": 101, "offset": 0}));
    }

    #[test]
    fn full_pages_continue_at_the_next_offset() {
        let fake = server(1500);
        let rows = read(&fake, 1001);
        assert_eq!(rows, (0..1001).map(|n| json!(n)).collect::<Vec<_>>());
        let pages: Vec<_> = (0..6).map(|i| (fake.body(i)["offset"].clone(), fake.body(i)["limit"].clone())).collect();
        assert_eq!(pages, [(0, 200), (200, 200), (400, 200), (600, 200), (800, 200), (1000, 1)].map(|(o, l)| (json!(o), json!(l))));
    }

    #[test]
    fn a_probe_row_past_the_cap_is_a_second_request() {
        let fake = server(200);
        assert_eq!(read(&fake, 201).len(), 200);
        assert_eq!(fake.requests().len(), 2);
        assert_eq!(fake.body(1)["limit"], json!(1));
    }
}
