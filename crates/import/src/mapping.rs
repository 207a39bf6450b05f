//! A chosen mapping (column → field), checked against the fields of the kind, and each row's
//! values checked against it: required fields, emails, phones, numbers, dates, currencies.

use std::collections::BTreeMap;

use dealbridge_storage::ImportKind;
use serde::Serialize;

use crate::fields::{TargetField, ValueType};

/// Column index → field id, as stored with the import (`{"0": "name", "2": "email"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping(pub BTreeMap<usize, String>);

/// Why a mapping cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("the required field \"{0}\" is not mapped to a column")]
    RequiredMissing(String),
    #[error("the field \"{0}\" is mapped to more than one column")]
    MappedTwice(String),
    #[error("column {0} does not exist in the file")]
    NoSuchColumn(usize),
    #[error("\"{0}\" is not a field of this kind of record")]
    UnknownField(String),
}

impl Mapping {
    pub fn to_json(&self) -> serde_json::Value {
        let object = self
            .0
            .iter()
            .map(|(column, field)| (column.to_string(), serde_json::json!(field)));
        serde_json::Value::Object(object.collect())
    }

    /// The mapping stored with an import; entries that are not `"index": "field"` are dropped.
    pub fn from_json(value: &serde_json::Value) -> Self {
        let entries = value.as_object().into_iter().flatten();
        Self(
            entries
                .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_str()?.to_owned())))
                .collect(),
        )
    }

    /// Checks the mapping against the file's column count and the kind's fields.
    pub fn check(&self, columns: usize, fields: &[TargetField]) -> Result<(), MappingError> {
        let mut seen = Vec::new();
        for (column, field) in &self.0 {
            if *column >= columns {
                return Err(MappingError::NoSuchColumn(column + 1));
            }
            if !fields.iter().any(|f| &f.id == field) {
                return Err(MappingError::UnknownField(field.clone()));
            }
            if seen.contains(&field) {
                return Err(MappingError::MappedTwice(field.clone()));
            }
            seen.push(field);
        }
        match fields.iter().find(|f| f.required && !seen.contains(&&f.id)) {
            Some(missing) => Err(MappingError::RequiredMissing(missing.label.clone())),
            None => Ok(()),
        }
    }

    /// The row's mapped values by field id, trimmed; empty cells left out.
    pub fn values(&self, cells: &[String]) -> BTreeMap<String, String> {
        self.0
            .iter()
            .filter_map(|(column, field)| {
                let value = cells.get(*column)?.trim();
                (!value.is_empty()).then(|| (field.clone(), value.to_owned()))
            })
            .collect()
    }
}

/// One problem of one row, for the preview and the failed-rows file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem of a row's mapped values.
pub fn validate(values: &BTreeMap<String, String>, fields: &[TargetField]) -> Vec<RowProblem> {
    let mut problems = Vec::new();
    for field in fields {
        let problem = match values.get(&field.id) {
            None if field.required => Some("is required".to_owned()),
            None => None,
            Some(value) => check_value(field.value_type, value),
        };
        if let Some(message) = problem {
            problems.push(RowProblem {
                field: field.label.clone(),
                message,
            });
        }
    }
    problems
}

fn check_value(value_type: ValueType, value: &str) -> Option<String> {
    let ok = match value_type {
        ValueType::Text => true,
        ValueType::Email => is_email(value),
        ValueType::Phone => is_phone(value),
        ValueType::Number => parse_number(value).is_some(),
        ValueType::Date => chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok(),
        ValueType::Currency => value.len() == 3 && value.chars().all(|c| c.is_ascii_alphabetic()),
    };
    let expected = match value_type {
        ValueType::Text => return None,
        ValueType::Email => "an email address such as name@example.com",
        ValueType::Phone => "a phone number (digits, spaces, + - ( ) .)",
        ValueType::Number => "a number such as 1200.50",
        ValueType::Date => "a date as YYYY-MM-DD",
        ValueType::Currency => "a three-letter currency code such as EUR",
    };
    (!ok).then(|| format!("{:?} is not {expected}", clip(value)))
}

/// At most 40 characters of a cell, for messages.
fn clip(value: &str) -> String {
    match value.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

/// One `@`, a non-empty local part, a domain with a dot and no empty label, no spaces.
pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
        && !value.chars().any(char::is_whitespace)
}

fn is_phone(value: &str) -> bool {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    digits >= 5
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

/// A decimal number; a comma is taken as the decimal separator when there is no dot (files
/// written with semicolons usually come from locales that write `1200,50`).
pub fn parse_number(value: &str) -> Option<f64> {
    let normalised = if value.contains('.') {
        value.to_owned()
    } else {
        value.replacen(',', ".", 1)
    };
    let plain = normalised
        .strip_prefix('-')
        .unwrap_or(&normalised)
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.');
    if !plain || normalised.is_empty() {
        return None;
    }
    normalised.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// What a row is found by, in the file and in Pipedrive: a person's email (else its name), an
/// organization's name, a deal's title; lower case, trimmed.
pub fn row_key(kind: ImportKind, values: &BTreeMap<String, String>) -> String {
    let field = match kind {
        ImportKind::Persons if values.contains_key("email") => "email",
        ImportKind::Persons | ImportKind::Organizations => "name",
        ImportKind::Deals => "title",
    };
    values
        .get(field)
        .map(|v| v.trim().to_lowercase())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{standard_fields, target_fields, CustomField};

    fn row(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn emails_numbers_dates_and_required_fields_are_checked() {
        let custom = vec![CustomField {
            code: "renew".into(),
            name: "Renewal".into(),
            field_type: "date".into(),
        }];
        let fields = target_fields(ImportKind::Deals, &custom);
        let problems = validate(
            &row(&[
                ("value", "12k"),
                ("currency", "EURO"),
                ("person_email", "ada at example.com"),
                ("custom:renew", "31/12/2026"),
            ]),
            &fields,
        );
        let fields_with_problems: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields_with_problems,
            vec!["Title", "Value", "Currency", "Person email", "Renewal"]
        );
        assert_eq!(problems[0].message, "is required");
        assert!(
            problems[1].message.contains("\"12k\" is not a number"),
            "{problems:?}"
        );

        let good = row(&[
            ("title", "Big deal"),
            ("value", "1200,50"),
            ("currency", "EUR"),
            ("person_email", "ada@example.com"),
            ("custom:renew", "2026-12-31"),
        ]);
        assert_eq!(validate(&good, &fields), vec![]);
    }

    #[test]
    fn email_shapes() {
        for good in ["a@b.co", "first.last+tag@sub.example.org"] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@@b.co", "a@b..co", "a b@c.co", "a@b.co.",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn numbers_accept_a_decimal_comma_but_not_units() {
        assert_eq!(parse_number("1200.5"), Some(1200.5));
        assert_eq!(parse_number("-3,25"), Some(-3.25));
        assert_eq!(parse_number("1e9"), None);
        assert_eq!(parse_number("12 EUR"), None);
        assert_eq!(parse_number("NaN"), None);
    }

    #[test]
    fn a_mapping_needs_its_required_fields_once_each() {
        let fields = standard_fields(ImportKind::Persons);
        let mapping = |pairs: &[(usize, &str)]| {
            Mapping(pairs.iter().map(|(c, f)| (*c, (*f).to_owned())).collect())
        };
        assert_eq!(
            mapping(&[(0, "email")]).check(2, &fields),
            Err(MappingError::RequiredMissing("Name".into()))
        );
        assert_eq!(
            mapping(&[(0, "name"), (1, "name")]).check(2, &fields),
            Err(MappingError::MappedTwice("name".into()))
        );
        assert_eq!(
            mapping(&[(0, "name"), (5, "email")]).check(2, &fields),
            Err(MappingError::NoSuchColumn(6))
        );
        assert_eq!(
            mapping(&[(0, "title")]).check(2, &fields),
            Err(MappingError::UnknownField("title".into()))
        );
        let good = mapping(&[(0, "name"), (1, "email")]);
        assert_eq!(good.check(2, &fields), Ok(()));
        assert_eq!(Mapping::from_json(&good.to_json()), good);
    }

    #[test]
    fn row_keys_are_the_natural_keys() {
        let person = row(&[("name", "Ada"), ("email", " Ada@Example.com ")]);
        assert_eq!(row_key(ImportKind::Persons, &person), "ada@example.com");
        assert_eq!(
            row_key(ImportKind::Persons, &row(&[("name", "Ada L")])),
            "ada l"
        );
        assert_eq!(
            row_key(ImportKind::Deals, &row(&[("title", "Q3 Renewal")])),
            "q3 renewal"
        );
    }
}
