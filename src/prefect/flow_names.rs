//! Flow names for the records a list tool shows, read in the same round as the records.
//!
//! Deployments and flow runs carry only a `flow_id`. Waiting for them before looking the ids
//! up costs a second round trip on every call. Prefect's `flows/filter` accepts the records'
//! own filter (under the records' key) and returns the flows having a matching record, so
//! that read runs alongside the records. Only when its page comes back full are the ids it
//! missed looked up afterwards.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::paging::SERVER_PAGE_MAX;
use super::records::FlowRecord;
use super::{PrefectClient, PrefectError};
use crate::upstream::Fetch;

/// Names by flow id, possibly partial.
pub struct FlowNames {
    names: HashMap<String, String>,
    /// Every flow with a matching record is in `names`: the page was not full.
    complete: bool,
}

impl FlowNames {
    /// The flows having a record of kind `key` (e.g. "flow_runs") that matches `filter`
    /// (already checked; `None` matches every record).
    pub async fn of_matching<F: Fetch>(
        prefect: &PrefectClient<'_, F>,
        key: &str,
        filter: Option<&Map<String, Value>>,
    ) -> Result<FlowNames, PrefectError> {
        let filter = filter.map_or_else(|| json!({}), |filter| Value::Object(filter.clone()));
        let body = json!({key: filter, "limit": SERVER_PAGE_MAX, "offset": 0});
        let flows: Vec<FlowRecord> = prefect.post("flows/filter", &body).await?;
        Ok(FlowNames {
            complete: flows.len() < SERVER_PAGE_MAX,
            names: flows.into_iter().map(|f| (f.id, f.name)).collect(),
        })
    }

    /// The names, after one more read for the `ids` a full first page did not cover.
    pub async fn covering<F: Fetch>(
        mut self,
        prefect: &PrefectClient<'_, F>,
        ids: &[&str],
    ) -> Result<HashMap<String, String>, PrefectError> {
        let missing: Vec<&str> = ids.iter().copied().filter(|id| !self.names.contains_key(*id)).collect();
        if !self.complete && !missing.is_empty() {
            let body = json!({"flows": {"id": {"any_": missing}}, "limit": missing.len(), "offset": 0});
            let flows: Vec<FlowRecord> = prefect.post("flows/filter", &body).await?;
            self.names.extend(flows.into_iter().map(|f| (f.id, f.name)));
        }
        Ok(self.names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prefect::testing::FakeUpstream;
    use futures::executor::block_on;

    const API: &str = "http://127.0.0.1:4200/api";

    fn flows(count: usize) -> Value {
        Value::Array((0..count).map(|i| json!({"id": format!("f{i}"), "name": format!("flow {i}")})).collect())
    }

    #[test]
    fn asks_for_the_flows_of_matching_records_under_their_key() {
        let fake = FakeUpstream::new().on("POST", "/api/flows/filter", 200, flows(2));
        let prefect = fake.client(API);
        let filter = json!({"state": {"type": {"any_": ["FAILED"]}}});
        let names = block_on(FlowNames::of_matching(&prefect, "flow_runs", filter.as_object())).unwrap();
        assert_eq!(fake.body(0), json!({"flow_runs": filter, "limit": 200, "offset": 0}));

        let names = block_on(names.covering(&prefect, &["f1", "gone"])).unwrap();
        assert_eq!(names["f1"], "flow 1");
        assert_eq!(fake.requests().len(), 1, "a page that is not full has every flow: no second read");
    }

    #[test]
    fn no_filter_matches_every_record() {
        let fake = FakeUpstream::new().on("POST", "/api/flows/filter", 200, json!([]));
        block_on(FlowNames::of_matching(&fake.client(API), "deployments", None)).unwrap();
        assert_eq!(fake.body(0), json!({"deployments": {}, "limit": 200, "offset": 0}));
    }

    #[test]
    fn a_full_page_is_completed_by_id() {
        let fake = FakeUpstream::new().answering("POST", "/api/flows/filter", |body| match body.get("flows") {
            Some(_) => (200, json!([{"id": "late", "name": "late flow"}])),
            None => (200, flows(200)),
        });
        let prefect = fake.client(API);
        let names = block_on(FlowNames::of_matching(&prefect, "deployments", None)).unwrap();
        let names = block_on(names.covering(&prefect, &["f7", "late"])).unwrap();
        assert_eq!(fake.body(1), json!({"flows": {"id": {"any_": ["late"]}}, "limit": 1, "offset": 0}));
        assert_eq!((names["f7"].as_str(), names["late"].as_str()), ("flow 7", "late flow"));
    }
}
