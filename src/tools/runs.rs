//! Pieces shared by the run tools (flow runs and task runs).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `end − start` in seconds (microsecond precision), when both timestamps are known.
pub fn duration(start: Option<&str>, end: Option<&str>) -> Option<f64> {
    let parse = |raw: Option<&str>| raw.and_then(|raw| OffsetDateTime::parse(raw, &Rfc3339).ok());
    let elapsed = parse(end)? - parse(start)?;
    Some(elapsed.whole_microseconds() as f64 / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_in_seconds_with_microseconds() {
        assert_eq!(duration(Some("2026-11-27T10:00:00Z"), Some("2026-11-27T10:01:02.500001Z")), Some(62.500001));
        assert_eq!(duration(Some("2026-11-27T10:00:00Z"), None), None);
        assert_eq!(duration(None, Some("2026-11-27T10:00:00Z")), None);
    }
}
