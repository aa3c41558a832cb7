//! The current time. `SystemTime::now()` panics on wasm32-unknown-unknown, so the Worker
//! asks JavaScript's clock instead.

use time::OffsetDateTime;

#[cfg(target_arch = "wasm32")]
pub fn now() -> OffsetDateTime {
    let millis = js_sys::Date::now() as i128;
    OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}
