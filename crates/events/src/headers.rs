//! Request headers as the parsers read them: case-insensitive names, text values.

use std::collections::BTreeMap;

/// A request's headers, looked up case-insensitively. Build it from whatever the web framework
/// hands over: `Headers::from_pairs(req.headers().iter().map(|(n, v)| (n.as_str(), v.as_bytes())))`.
/// Values that are not valid UTF-8 are dropped (no header any source signs or names is binary);
/// when a name repeats, the first value wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(BTreeMap<String, String>);

impl Headers {
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let mut map = BTreeMap::new();
        for (name, value) in pairs {
            if let Ok(value) = std::str::from_utf8(value.as_ref()) {
                map.entry(name.as_ref().to_ascii_lowercase())
                    .or_insert_with(|| value.trim().to_owned());
            }
        }
        Self(map)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// The first of `names` that is present and not empty.
    pub(crate) fn first_of(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .find_map(|name| self.get(name).filter(|value| !value.is_empty()))
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Self::from_pairs(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_first_value_wins() {
        let headers = Headers::from_pairs([
            ("X-Shopify-Topic", "orders/create"),
            ("x-shopify-topic", "orders/updated"),
        ]);
        assert_eq!(headers.get("X-SHOPIFY-TOPIC"), Some("orders/create"));
        assert_eq!(headers.get("missing"), None);
    }

    #[test]
    fn non_text_values_are_dropped() {
        let headers = Headers::from_pairs([("a", &[0xff_u8, 0xfe][..]), ("b", b"ok")]);
        assert_eq!(headers.get("a"), None);
        assert_eq!(headers.get("b"), Some("ok"));
    }
}
