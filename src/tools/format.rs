//! Value formatting shared by the tools' result shapes.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// Re-formats a Prefect timestamp as UTC `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`: six
/// fraction digits, none when the microseconds are zero (what Python's `isoformat`
/// gives, so results compare 1:1 with the reference). Unparseable input passes through.
pub fn timestamp(raw: &str) -> String {
    match OffsetDateTime::parse(raw, &Rfc3339) {
        Ok(parsed) => datetime(parsed),
        Err(_) => raw.to_owned(),
    }
}

/// Formats an instant the same way as [`timestamp`] (e.g. time windows sent to Prefect).
pub fn datetime(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    let seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let base = utc.format(&seconds).expect("a UTC date-time formats");
    match utc.microsecond() {
        0 => format!("{base}+00:00"),
        micros => format!("{base}.{micros:06}+00:00"),
    }
}

/// [`timestamp`] over an optional value.
pub fn optional_timestamp(raw: Option<&str>) -> Option<String> {
    raw.map(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python_isoformat() {
        assert_eq!(timestamp("2024-06-01T12:00:00.478Z"), "2024-06-01T12:00:00.478000+00:00");
        assert_eq!(timestamp("2024-06-01T12:00:00Z"), "2024-06-01T12:00:00+00:00");
        assert_eq!(timestamp("2024-06-01T14:00:00.000001+02:00"), "2024-06-01T12:00:00.000001+00:00");
        assert_eq!(timestamp("yesterday"), "yesterday");
        assert_eq!(datetime(time::macros::datetime!(2026-11-27 12:00:00.5 +01:00)), "2026-11-27T11:00:00.500000+00:00");
    }
}
