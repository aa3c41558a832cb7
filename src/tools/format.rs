//! Value formatting shared by the tools' result shapes.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// Re-formats a Prefect timestamp as UTC `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`: six
/// fraction digits, none when the microseconds are zero (what Python's `isoformat`
/// gives, so results compare 1:1 with the reference). Unparseable input passes through.
fn timestamp(raw: &str) -> String {
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

/// One line per schedule kind: the cron expression, interval seconds or RRULE text (line
/// breaks shown as `\n`), with the timezone.
pub fn describe_schedule(schedule: &Value) -> String {
    let text = |key: &str| schedule.get(key).and_then(Value::as_str);
    let timezone = text("timezone").unwrap_or("none");
    if let Some(cron) = text("cron") {
        let day_or = schedule.get("day_or").and_then(Value::as_bool).unwrap_or(true);
        format!("cron \"{cron}\", timezone {timezone}, day_or {day_or}")
    } else if let Some(seconds) = schedule.get("interval").and_then(Value::as_f64) {
        let seconds = if seconds.fract() == 0.0 { format!("{}", seconds as i64) } else { seconds.to_string() };
        let anchor = text("anchor_date").map(|a| format!(", anchor {}", timestamp(a))).unwrap_or_default();
        format!("interval {seconds} seconds{anchor}, timezone {timezone}")
    } else if let Some(rrule) = text("rrule") {
        format!("rrule \"{}\", timezone {timezone}", rrule.replace('\n', "\\n"))
    } else {
        schedule.to_string()
    }
}

/// The name of a Python logging level, as Prefect records it.
pub fn level_name(level: i64) -> String {
    match level {
        10 => "DEBUG".into(),
        20 => "INFO".into(),
        30 => "WARNING".into(),
        40 => "ERROR".into(),
        50 => "CRITICAL".into(),
        other => format!("LEVEL_{other}"),
    }
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
