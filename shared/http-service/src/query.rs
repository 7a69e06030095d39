//! Query strings and pagination parameters.

use serde_json::json;

use store::Page;

use crate::ApiError;
use crate::percent::{Part, decode};

/// Decoded `name=value` pairs of a query string (`+` is a space, `%XX` a byte).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name, Part::Query), decode(value, Part::Query))
        })
        .collect()
}

/// The query of a request URI (`path?query`), decoded.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// A query string (without the `?`), decoded.
    pub fn parse(query: &str) -> Self {
        Self(query_pairs(query))
    }

    /// The query of a request URI (`path?query`).
    pub fn from_uri(uri: &str) -> Self {
        uri.split_once('?')
            .map(|(_, q)| Self::parse(q))
            .unwrap_or_default()
    }

    /// The first value of `name`, if present and not blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.trim().is_empty())
    }
}

impl Query {
    /// The first value of `name` as sent, blank or not: typed parameters (numbers, flags)
    /// refuse a blank value rather than ignore it.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A `true`/`false` flag: absent is `false`; any other value is the error to report
    /// under the parameter's name in `invalidFields`.
    pub fn flag(&self, name: &str) -> Result<bool, &'static str> {
        match self.raw(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err("must be true or false"),
        }
    }
}

/// A whole number written as plain digits (no sign, no spaces), as `integer` parameters are.
fn plain_u32(raw: &str) -> Option<u32> {
    (!raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()))
        .then(|| raw.parse().ok())
        .flatten()
}

/// Reads `page` (>= 1, default 1) and `limit` (1..=`max_limit`, default `default_limit`) of a
/// paginated list.
pub fn page_from(query: &Query, default_limit: u32, max_limit: u32) -> Result<Page, ApiError> {
    let mut invalid = serde_json::Map::new();
    let page = match query.raw("page") {
        None => 1,
        Some(raw) => match plain_u32(raw) {
            Some(page) if page >= 1 => page,
            _ => {
                invalid.insert("page".into(), json!("must be an integer >= 1"));
                1
            }
        },
    };
    let limit = match query.raw("limit") {
        None => default_limit,
        Some(raw) => match plain_u32(raw) {
            Some(limit) if (1..=max_limit).contains(&limit) => limit,
            _ => {
                invalid.insert(
                    "limit".into(),
                    json!(format!("must be an integer from 1 to {max_limit}")),
                );
                default_limit
            }
        },
    };
    if invalid.is_empty() {
        Ok(Page {
            number: page,
            size: limit,
        })
    } else {
        Err(ApiError::validation(
            "Invalid query parameters",
            json!({ "invalidFields": invalid }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_pairs() {
        let query = Query::from_uri("/p?search=red+shoe&category=a%26b&empty=&x");
        assert_eq!(query.get("search"), Some("red shoe"));
        assert_eq!(query.get("category"), Some("a&b"));
        assert_eq!(query.get("empty"), None);
        assert_eq!(query.get("missing"), None);
    }

    #[test]
    fn a_flag_is_true_false_or_absent_and_anything_else_is_refused() {
        let flag = |uri| Query::from_uri(uri).flag("all");
        assert_eq!(flag("/x"), Ok(false));
        assert_eq!(flag("/x?all=false"), Ok(false));
        assert_eq!(flag("/x?all=true"), Ok(true));
        for uri in ["/x?all=", "/x?all=TRUE", "/x?all=1", "/x?all=yes"] {
            assert!(flag(uri).is_err(), "{uri}");
        }
    }

    #[test]
    fn typed_parameters_are_plain_digits_and_blank_is_no_number() {
        for query in [
            "/x?page=",
            "/x?page=+2",
            "/x?page=%202",
            "/x?limit=1.0",
            "/x?limit=-1",
        ] {
            assert!(
                page_from(&Query::from_uri(query), 20, 100).is_err(),
                "{query}"
            );
        }
        assert_eq!(Query::from_uri("/x?page=").raw("page"), Some(""));
    }

    #[test]
    fn pagination_defaults_and_bounds() {
        let defaults = page_from(&Query::from_uri("/x"), 20, 100).expect("ok");
        assert_eq!(
            defaults,
            Page {
                number: 1,
                size: 20
            }
        );
        let page = page_from(&Query::from_uri("/x?page=3&limit=100"), 20, 100).expect("ok");
        assert_eq!(page.offset(), 200);
        for bad in [
            "page=0",
            "page=-1",
            "page=abc",
            "limit=0",
            "limit=101",
            "limit=2.5",
            "page=99999999999",
        ] {
            let error = page_from(&Query::from_uri(&format!("/x?{bad}")), 20, 100).expect_err(bad);
            assert_eq!(error.code, envelope::ErrorCode::ValidationError, "{bad}");
        }
    }
}
