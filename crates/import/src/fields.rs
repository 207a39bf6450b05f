//! The fields a column can be mapped onto: the standard ones of each kind and the tenant's custom
//! fields, and suggestions by header name.

use std::collections::BTreeMap;

use dealbridge_storage::ImportKind;
use serde::Serialize;

/// How a field's values are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    Text,
    Email,
    Phone,
    Number,
    /// `YYYY-MM-DD`.
    Date,
    /// A three-letter ISO 4217 code.
    Currency,
}

/// A field a column can be mapped onto. `id` is what a mapping stores: a standard field's name,
/// or `custom:{field code}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetField {
    pub id: String,
    pub label: String,
    pub value_type: ValueType,
    pub required: bool,
}

/// A custom field of the tenant, as Pipedrive lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomField {
    pub code: String,
    pub name: String,
    /// Pipedrive's `field_type` (`varchar`, `double`, `monetary`, `date`, …).
    pub field_type: String,
}

pub const CUSTOM_PREFIX: &str = "custom:";

fn standard(id: &str, label: &str, value_type: ValueType, required: bool) -> TargetField {
    TargetField {
        id: id.to_owned(),
        label: label.to_owned(),
        value_type,
        required,
    }
}

/// The standard fields of `kind`.
pub fn standard_fields(kind: ImportKind) -> Vec<TargetField> {
    use ValueType::*;
    match kind {
        ImportKind::Persons => vec![
            standard("name", "Name", Text, true),
            standard("email", "Email", Email, false),
            standard("phone", "Phone", Phone, false),
            standard("org_name", "Organization name", Text, false),
        ],
        ImportKind::Organizations => vec![
            standard("name", "Name", Text, true),
            standard("address", "Address", Text, false),
        ],
        ImportKind::Deals => vec![
            standard("title", "Title", Text, true),
            standard("value", "Value", Number, false),
            standard("currency", "Currency", Currency, false),
            standard("person_email", "Person email", Email, false),
            standard("org_name", "Organization name", Text, false),
        ],
    }
}

/// Pipedrive's custom field types whose values are checked; every other type takes text.
fn custom_value_type(field_type: &str) -> ValueType {
    match field_type {
        "double" | "monetary" | "int" => ValueType::Number,
        "date" => ValueType::Date,
        "phone" => ValueType::Phone,
        _ => ValueType::Text,
    }
}

/// Every field of `kind`: the standard ones, then the tenant's custom fields.
pub fn target_fields(kind: ImportKind, custom: &[CustomField]) -> Vec<TargetField> {
    let mut fields = standard_fields(kind);
    fields.extend(custom.iter().map(|field| TargetField {
        id: format!("{CUSTOM_PREFIX}{}", field.code),
        label: field.name.clone(),
        value_type: custom_value_type(&field.field_type),
        required: false,
    }));
    fields
}

/// Lower case, letters and digits only: "E-mail Address" and "email_address" compare equal.
fn normalise(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Other names a standard field's column often has, normalised.
fn synonyms(kind: ImportKind, id: &str) -> &'static [&'static str] {
    match (kind, id) {
        (ImportKind::Deals, "title") => &["title", "dealtitle", "deal", "dealname", "name"],
        (_, "name") => &[
            "name",
            "fullname",
            "contactname",
            "personname",
            "organization",
            "orgname",
            "company",
            "companyname",
        ],
        (_, "email") => &["email", "emailaddress", "mail", "primaryemail"],
        (_, "phone") => &["phone", "phonenumber", "telephone", "tel", "mobile"],
        (ImportKind::Persons | ImportKind::Deals, "org_name") => &[
            "organization",
            "organisation",
            "org",
            "orgname",
            "organizationname",
            "company",
            "companyname",
        ],
        (_, "address") => &["address", "streetaddress", "location"],
        (_, "value") => &["value", "amount", "dealvalue", "price"],
        (_, "currency") => &["currency", "currencycode"],
        (_, "person_email") => &["personemail", "contactemail", "email", "emailaddress"],
        _ => &[],
    }
}

/// A suggested mapping onto `fields` (see [`target_fields`]): column index → field id, each field
/// used at most once. A header matches a field by its id, label or a common synonym (standard
/// fields), or by its name (custom fields); the first column that matches a field takes it.
pub fn suggest_mapping(
    kind: ImportKind,
    headers: &[String],
    fields: &[TargetField],
) -> BTreeMap<usize, String> {
    let mut mapping = BTreeMap::new();
    let mut taken = Vec::new();
    for (column, header) in headers.iter().enumerate() {
        let header = normalise(header);
        if header.is_empty() {
            continue;
        }
        let matches = |field: &TargetField| {
            normalise(&field.label) == header
                || normalise(&field.id) == header
                || (!field.id.starts_with(CUSTOM_PREFIX)
                    && synonyms(kind, &field.id).contains(&header.as_str()))
        };
        // An exact label match (a custom field named like the column) wins over a synonym.
        let exact = fields
            .iter()
            .find(|f| !taken.contains(&f.id) && normalise(&f.label) == header);
        if let Some(field) =
            exact.or_else(|| fields.iter().find(|f| !taken.contains(&f.id) && matches(f)))
        {
            taken.push(field.id.clone());
            mapping.insert(column, field.id.clone());
        }
    }
    mapping
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn persons_headers_map_by_name_and_synonym() {
        let mapping = suggest_mapping(
            ImportKind::Persons,
            &headers(&["Full Name", "E-mail Address", "Mobile", "Company", "Notes"]),
            &standard_fields(ImportKind::Persons),
        );
        let expected: BTreeMap<usize, String> =
            [(0, "name"), (1, "email"), (2, "phone"), (3, "org_name")]
                .into_iter()
                .map(|(c, f)| (c, f.to_owned()))
                .collect();
        assert_eq!(mapping, expected);
    }

    #[test]
    fn deals_map_title_value_and_person_email() {
        let mapping = suggest_mapping(
            ImportKind::Deals,
            &headers(&[
                "Deal name",
                "Amount",
                "Currency",
                "Contact email",
                "Organization",
            ]),
            &standard_fields(ImportKind::Deals),
        );
        let fields: Vec<&str> = mapping.values().map(String::as_str).collect();
        assert_eq!(
            fields,
            vec!["title", "value", "currency", "person_email", "org_name"]
        );
    }

    #[test]
    fn custom_fields_map_by_their_name_and_each_field_once() {
        let custom = vec![CustomField {
            code: "abc123".into(),
            name: "Customer tier".into(),
            field_type: "enum".into(),
        }];
        let mapping = suggest_mapping(
            ImportKind::Organizations,
            &headers(&["Name", "customer_tier", "Company name", ""]),
            &target_fields(ImportKind::Organizations, &custom),
        );
        assert_eq!(mapping.get(&0).map(String::as_str), Some("name"));
        assert_eq!(mapping.get(&1).map(String::as_str), Some("custom:abc123"));
        assert_eq!(mapping.get(&2), None, "name is taken by the first column");
        assert_eq!(mapping.get(&3), None, "an empty header maps to nothing");
    }

    #[test]
    fn custom_field_types_choose_the_check() {
        let custom = vec![
            CustomField {
                code: "a".into(),
                name: "Budget".into(),
                field_type: "monetary".into(),
            },
            CustomField {
                code: "b".into(),
                name: "Renewal".into(),
                field_type: "date".into(),
            },
        ];
        let fields = target_fields(ImportKind::Deals, &custom);
        let types: Vec<ValueType> = fields.iter().rev().take(2).map(|f| f.value_type).collect();
        assert_eq!(types, vec![ValueType::Date, ValueType::Number]);
    }
}
