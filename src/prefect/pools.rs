//! What a work pool holds beyond its own record: its queues and how many of its workers
//! are ONLINE, read from the pool's queue and worker lists.

use serde_json::json;

use super::records::{QueueRecord, WorkerRecord};
use super::{PrefectClient, PrefectError};
use crate::upstream::Fetch;

/// A pool's queues (in server order, by priority) and its ONLINE worker count.
#[derive(Debug)]
pub struct PoolContents {
    pub queues: Vec<QueueRecord>,
    pub active_workers: usize,
}

/// Largest queue or worker page read per pool (the server's maximum page size).
const PAGE: usize = 200;

/// Reads the queues and workers of pool `name` (two concurrent requests).
pub async fn contents<F: Fetch>(prefect: &PrefectClient<'_, F>, name: &str) -> Result<PoolContents, PrefectError> {
    let pool = path_segment(name);
    let (queues_path, workers_path) =
        (format!("work_pools/{pool}/queues/filter"), format!("work_pools/{pool}/workers/filter"));
    let body = json!({"limit": PAGE, "offset": 0});
    let (queues, workers) = futures::try_join!(
        prefect.post::<Vec<QueueRecord>, _>(&queues_path, &body),
        prefect.post::<Vec<WorkerRecord>, _>(&workers_path, &body),
    )?;
    let active_workers = workers.iter().filter(|w| w.status.as_deref() == Some("ONLINE")).count();
    Ok(PoolContents { queues, active_workers })
}

/// Reads the contents of every pool concurrently, in the order given.
pub async fn contents_of_each<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    names: &[&str],
) -> Vec<Result<PoolContents, PrefectError>> {
    futures::future::join_all(names.iter().map(|name| contents(prefect, name))).await
}

/// Percent-encodes a name for use as one URL path segment (pool names may contain `/`,
/// `?`, `#`, spaces or non-ASCII).
pub fn path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("process-pool_1.x~"), "process-pool_1.x~");
        assert_eq!(path_segment("a b/c?d#é"), "a%20b%2Fc%3Fd%23%C3%A9");
    }
}
