//! Pipedrive sends ids as numbers on some surfaces and as strings of digits on others (webhook
//! meta, uninstall notices, iframe JWTs); both mean the same id.

pub(crate) fn pipedrive_id(value: &serde_json::Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_digit_strings_are_ids() {
        assert_eq!(pipedrive_id(&json!(42)), Some(42));
        assert_eq!(pipedrive_id(&json!("42")), Some(42));
        assert_eq!(pipedrive_id(&json!("4x")), None);
        assert_eq!(pipedrive_id(&json!(null)), None);
    }
}
