//! The `local_time` template filter: a time as `<time datetime="…">2026-12-01 14:05 UTC</time>`.
//! The text is a readable UTC time that stands on its own (no script, a crawler, a test); the
//! page's `static/local-time.js` rewrites it into the viewer's time zone from the `datetime`
//! attribute. Values that are not a time pass through as escaped text.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use tera::{Result, Value};

/// How the pages show a time before the script localises it (and when it cannot).
const READABLE: &str = "%Y-%m-%d %H:%M UTC";

/// Reads RFC 3339 (what stored times serialise to) or the readable form views already build.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, READABLE)
        .ok()
        .map(|at| at.and_utc())
}

/// The markup for one time; `at` is parsed and re-printed, so nothing of the input reaches the
/// page unescaped.
pub fn markup(at: DateTime<Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        at.to_rfc3339_opts(SecondsFormat::Secs, true),
        at.format(READABLE)
    )
}

pub struct LocalTime;

impl tera::Filter for LocalTime {
    fn filter(&self, value: &Value, _args: &HashMap<String, Value>) -> Result<Value> {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => return Ok(Value::String(String::new())),
            other => other.to_string(),
        };
        Ok(Value::String(match parse(&text) {
            Some(at) => markup(at),
            None => tera::escape_html(&text),
        }))
    }

    /// The output is built from a parsed time or escaped here, so Tera must not escape it again.
    fn is_safe(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tera::Filter;

    fn apply(value: Value) -> String {
        LocalTime
            .filter(&value, &HashMap::new())
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn rfc3339_with_nanoseconds_becomes_a_time_element() {
        let html = apply(Value::from("2026-12-01T14:05:09.123456789+00:00"));
        assert_eq!(
            html,
            "<time datetime=\"2026-12-01T14:05:09Z\">2026-12-01 14:05 UTC</time>"
        );
    }

    #[test]
    fn the_readable_form_and_other_offsets_are_read_too() {
        assert_eq!(
            apply(Value::from("2026-11-30 00:00 UTC")),
            "<time datetime=\"2026-11-30T00:00:00Z\">2026-11-30 00:00 UTC</time>"
        );
        assert!(apply(Value::from("2026-12-01T16:05:00+02:00")).contains("14:05 UTC"));
    }

    #[test]
    fn anything_else_is_escaped_text() {
        assert_eq!(
            apply(Value::from("<b>soon</b>")),
            "&lt;b&gt;soon&lt;&#x2F;b&gt;"
        );
        assert_eq!(apply(Value::Null), "");
    }
}
