//! Concurrency limits as Prefect lists them: read by the dashboard, the deployments and the
//! diagnosis tools.

use serde::Deserialize;
use serde_json::json;

use super::paging::SERVER_PAGE_MAX;
use super::records::active_by_default;
use super::{PrefectClient, PrefectError};
use crate::upstream::Fetch;

/// A global (V2) concurrency limit, also how a deployment's limit is stored.
#[derive(Debug, Clone, Deserialize)]
pub struct GlobalLimitRecord {
    pub id: String,
    pub name: String,
    pub limit: i64,
    #[serde(default = "active_by_default")]
    pub active: bool,
    #[serde(default)]
    pub active_slots: i64,
    #[serde(default)]
    pub slot_decay_per_second: f64,
}

/// A tag concurrency limit as the V1 endpoint shows it: `active_slots` are the ids of the
/// task runs holding a slot.
#[derive(Debug, Clone, Deserialize)]
pub struct TagLimitRecord {
    pub id: String,
    pub tag: String,
    pub concurrency_limit: i64,
    #[serde(default)]
    pub active_slots: Vec<String>,
}

/// Every tag limit (the V1 view, with the slot holders), first server page.
pub async fn tag_limits<F: Fetch>(prefect: &PrefectClient<'_, F>) -> Result<Vec<TagLimitRecord>, PrefectError> {
    prefect.post("concurrency_limits/filter", &json!({"limit": SERVER_PAGE_MAX, "offset": 0})).await
}

/// Every global (V2) limit, first server page.
pub async fn global_limits<F: Fetch>(prefect: &PrefectClient<'_, F>) -> Result<Vec<GlobalLimitRecord>, PrefectError> {
    prefect.post("v2/concurrency_limits/filter", &json!({"limit": SERVER_PAGE_MAX, "offset": 0})).await
}
