//! Field checks shared by every source, collecting every problem rather than stopping at the first.

use serde::de::DeserializeOwned;

use crate::{FieldError, IngestError};

/// Collects field errors under a path prefix.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    errors: Vec<FieldError>,
}

impl Checks {
    pub(crate) fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    pub(crate) fn required_text(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.fail(field, "must not be empty");
        } else if value.len() > MAX_TEXT {
            self.fail(field, format!("must be at most {MAX_TEXT} characters"));
        }
    }

    pub(crate) fn optional_text(&mut self, field: &str, value: Option<&str>) {
        if let Some(value) = value {
            if value.len() > MAX_TEXT {
                self.fail(field, format!("must be at most {MAX_TEXT} characters"));
            }
        }
    }

    pub(crate) fn email(&mut self, field: &str, value: &str) {
        if !is_email(value) {
            self.fail(field, "must be an email address");
        }
    }

    pub(crate) fn amount(&mut self, field: &str, value: &str) {
        if !is_amount(value) {
            self.fail(
                field,
                "must be a decimal amount such as \"19.99\" (at most 6 decimals)",
            );
        }
    }

    pub(crate) fn currency(&mut self, field: &str, value: &str) {
        if !(value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase())) {
            self.fail(field, "must be an ISO 4217 code such as \"EUR\"");
        }
    }

    pub(crate) fn finish(self) -> Result<(), IngestError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(IngestError::Invalid(self.errors))
        }
    }
}

/// Longest free text any field may hold (names, notes, subjects); a guard, not a business rule.
pub(crate) const MAX_TEXT: usize = 10_000;

/// A pragmatic email check: one `@`, a non-empty local part, a dotted domain, no spaces. Whether
/// the mailbox exists is for the CRM to find out; this catches typos and wrong fields.
pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && value.len() <= 254
        && !domain.contains('@')
        && !value.chars().any(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

/// A decimal amount as text: optional minus, digits, optionally `.` and 1 to 6 digits. Amounts
/// stay text end to end so no float rounding ever touches money.
pub fn is_amount(value: &str) -> bool {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole)
        && whole.len() <= 15
        && fraction.is_none_or(|fraction| all_digits(fraction) && fraction.len() <= 6)
}

/// A JSON number as amount text. Integers and short decimals keep their digits; a computed price
/// with more than 6 decimals (WooCommerce divides line totals by quantities) is rounded to 6.
pub(crate) fn number_to_amount(number: &serde_json::Number) -> String {
    let text = number.to_string();
    if is_amount(&text) {
        return text;
    }
    match number.as_f64() {
        Some(value) if value.is_finite() => {
            let rounded = format!("{value:.6}");
            rounded
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_owned()
        }
        _ => text,
    }
}

/// The dotted path serde stopped at, under `root` (`body`, or `data` for the event API's payload).
pub(crate) fn field_path(path: &serde_path_to_error::Path, root: &str) -> String {
    let path = path.to_string();
    match path.as_str() {
        "." | "?" | "" => root.to_owned(),
        _ if root == "body" => path,
        _ => format!("{root}.{path}"),
    }
}

/// Parses JSON into `T`, naming the field that failed (`data.total: invalid type ...`).
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, IngestError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        IngestError::invalid(
            field_path(error.path(), "body"),
            error.into_inner().to_string(),
        )
    })?;
    deserializer
        .end()
        .map_err(|error| IngestError::invalid("body", error.to_string()))?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for good in ["bob@example.com", "a.b+c@sub.example.co.uk"] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "",
            "bob",
            "bob@",
            "@example.com",
            "bob@example",
            "bob@@example.com",
            "bob @example.com",
            "bob@example..com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn numbers_become_amounts() {
        let amount = |json: &str| {
            serde_json::from_str::<serde_json::Number>(json)
                .map(|n| number_to_amount(&n))
                .unwrap_or_default()
        };
        assert_eq!(amount("12"), "12");
        assert_eq!(amount("409.94"), "409.94");
        assert_eq!(amount("8.333333333"), "8.333333");
        assert_eq!(amount("2.50"), "2.5");
    }

    #[test]
    fn amounts() {
        for good in ["0", "19.99", "-5.5", "1000000.123456"] {
            assert!(is_amount(good), "{good}");
        }
        for bad in ["", "1.", ".5", "1,5", "1e3", "1.1234567", "abc", "--1"] {
            assert!(!is_amount(bad), "{bad}");
        }
    }
}
