//! Reading a JSON object's fields with strict types, collecting every problem at once.
//!
//! Missing fields (absent, `null`, or an empty string) go to `details.missingFields`; fields of
//! the wrong JSON type or with invalid values go to `details.invalidFields` as
//! `{field: reason}`. Unknown fields are ignored, so a client-sent `role` or `price` never has
//! an effect.

use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::ApiError;

/// The exact text of every number at the top level of a JSON object body, by field name
/// (`19.999999999999999` stays that, where a parsed `Value` would hold the double 20.0).
/// Anything that is not an object gives none.
pub fn number_literals(body: &[u8]) -> HashMap<String, String> {
    serde_json::from_slice::<HashMap<String, Box<RawValue>>>(body)
        .map(|fields| {
            fields
                .into_iter()
                .filter(|(_, raw)| {
                    raw.get()
                        .starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
                })
                .map(|(name, raw)| (name, raw.get().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON object being read field by field.
#[derive(Debug)]
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    prefix: String,
    missing: Vec<String>,
    invalid: Map<String, Value>,
    /// Exact number texts from the raw body (see [`number_literals`]).
    literals: HashMap<String, String>,
}

impl<'a> Fields<'a> {
    /// Starts reading `body`, which must be a JSON object.
    pub fn of(body: &'a Value) -> Result<Self, ApiError> {
        match body {
            Value::Object(object) => Ok(Self::nested(object, "")),
            _ => Err(ApiError::validation(
                "Request body must be a JSON object",
                json!({ "invalidFields": { "body": "must be a JSON object" } }),
            )),
        }
    }

    fn nested(object: &'a Map<String, Value>, prefix: &str) -> Self {
        Self {
            object,
            prefix: prefix.to_string(),
            missing: Vec::new(),
            invalid: Map::new(),
            literals: HashMap::new(),
        }
    }

    /// Reads numbers as the exact text they were sent in (for money), from the raw body.
    pub fn with_number_literals(mut self, raw_body: &[u8]) -> Self {
        self.literals = number_literals(raw_body);
        self
    }

    fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn present(&self, name: &str) -> Option<&'a Value> {
        self.object.get(name).filter(|value| !value.is_null())
    }

    /// Records a problem with a field found valid in type but not in value.
    pub fn invalid(&mut self, name: &str, reason: impl Into<String>) {
        self.invalid
            .insert(self.path(name), Value::String(reason.into()));
    }

    /// Runs a field's domain parser on a value already read (`None` when it was missing or of
    /// the wrong type, already recorded); a parse failure becomes that field's invalid reason.
    pub fn parsed<R, T, E: Into<String>>(
        &mut self,
        name: &str,
        raw: Option<R>,
        parse: impl FnOnce(R) -> Result<T, E>,
    ) -> Option<T> {
        match parse(raw?) {
            Ok(value) => Some(value),
            Err(reason) => {
                self.invalid(name, reason);
                None
            }
        }
    }

    /// A required string; empty or whitespace-only counts as missing.
    pub fn required_str(&mut self, name: &str) -> Option<&'a str> {
        match self.present(name) {
            None => {
                self.missing.push(self.path(name));
                None
            }
            Some(Value::String(text)) if text.trim().is_empty() => {
                self.missing.push(self.path(name));
                None
            }
            Some(Value::String(text)) => Some(text.as_str()),
            Some(_) => {
                self.invalid(name, "must be a string");
                None
            }
        }
    }

    /// An optional string (`null` is absent).
    pub fn optional_str(&mut self, name: &str) -> Option<&'a str> {
        match self.present(name) {
            None => None,
            Some(Value::String(text)) => Some(text.as_str()),
            Some(_) => {
                self.invalid(name, "must be a string");
                None
            }
        }
    }

    /// A required JSON integer (not `"3"`, not `2.5`).
    pub fn required_i64(&mut self, name: &str) -> Option<i64> {
        match self.present(name) {
            None => {
                self.missing.push(self.path(name));
                None
            }
            Some(value) => self.integer(name, value),
        }
    }

    /// An optional JSON integer.
    pub fn optional_i64(&mut self, name: &str) -> Option<i64> {
        let value = self.present(name)?;
        self.integer(name, value)
    }

    fn integer(&mut self, name: &str, value: &Value) -> Option<i64> {
        match value.as_i64() {
            Some(number) => Some(number),
            None => {
                self.invalid(name, "must be an integer");
                None
            }
        }
    }

    /// A required JSON number, as its exact text (for money) when the reader was given the
    /// raw body ([`Fields::with_number_literals`]), else as the parsed number prints.
    pub fn required_number_text(&mut self, name: &str) -> Option<String> {
        match self.present(name) {
            None => {
                self.missing.push(self.path(name));
                None
            }
            Some(Value::Number(number)) => Some(
                self.literals
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| number.to_string()),
            ),
            Some(_) => {
                self.invalid(name, "must be a number");
                None
            }
        }
    }

    /// A required array.
    pub fn required_array(&mut self, name: &str) -> Option<&'a Vec<Value>> {
        match self.present(name) {
            None => {
                self.missing.push(self.path(name));
                None
            }
            Some(Value::Array(items)) => Some(items),
            Some(_) => {
                self.invalid(name, "must be an array");
                None
            }
        }
    }

    /// A required object, read with its own `Fields` whose problems are reported as
    /// `name.field`; merge them back with [`Fields::absorb`].
    pub fn required_object(&mut self, name: &str) -> Option<Fields<'a>> {
        match self.present(name) {
            None => {
                self.missing.push(self.path(name));
                None
            }
            Some(Value::Object(object)) => {
                Some(Fields::nested(object, &format!("{}.", self.path(name))))
            }
            Some(_) => {
                self.invalid(name, "must be an object");
                None
            }
        }
    }

    /// Takes over a nested reader's problems.
    pub fn absorb(&mut self, nested: Fields<'_>) {
        self.missing.extend(nested.missing);
        self.invalid.extend(nested.invalid);
    }

    /// Whether no problem has been recorded so far.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.invalid.is_empty()
    }

    /// `Ok` when every field was present and valid, else one validation error naming them all.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.is_clean() {
            return Ok(());
        }
        let mut details = Map::new();
        let message = if self.missing.is_empty() {
            "Invalid fields"
        } else {
            "Missing required fields"
        };
        if !self.missing.is_empty() {
            details.insert("missingFields".into(), json!(self.missing));
        }
        if !self.invalid.is_empty() {
            details.insert("invalidFields".into(), Value::Object(self.invalid));
        }
        Err(ApiError::validation(message, Value::Object(details)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(result: Result<(), ApiError>) -> Value {
        result.expect_err("should fail").details.expect("details")
    }

    #[test]
    fn collects_missing_fields_in_order_treating_null_and_blank_as_missing() {
        let body = json!({"email": null, "name": "  "});
        let mut fields = Fields::of(&body).expect("object");
        fields.required_str("email");
        fields.required_str("password");
        fields.required_str("name");
        assert_eq!(
            details(fields.finish())["missingFields"],
            json!(["email", "password", "name"])
        );
    }

    #[test]
    fn wrong_types_are_invalid_not_missing() {
        let body = json!({"email": 5, "quantity": "3", "price": "1.00", "n": 2.5});
        let mut fields = Fields::of(&body).expect("object");
        fields.required_str("email");
        fields.required_i64("quantity");
        fields.required_number_text("price");
        fields.required_i64("n");
        let details = details(fields.finish());
        assert_eq!(details["invalidFields"]["email"], "must be a string");
        assert_eq!(details["invalidFields"]["quantity"], "must be an integer");
        assert_eq!(details["invalidFields"]["price"], "must be a number");
        assert_eq!(details["invalidFields"]["n"], "must be an integer");
        assert!(details.get("missingFields").is_none());
    }

    #[test]
    fn nested_objects_report_dotted_paths() {
        let body = json!({"shippingAddress": {"street": "x", "city": ""}});
        let mut fields = Fields::of(&body).expect("object");
        let mut address = fields.required_object("shippingAddress").expect("object");
        address.required_str("street");
        address.required_str("city");
        fields.absorb(address);
        assert_eq!(
            details(fields.finish())["missingFields"],
            json!(["shippingAddress.city"])
        );
    }

    #[test]
    fn non_objects_are_rejected_and_optional_null_is_absent() {
        assert!(Fields::of(&json!([1])).is_err());
        let body = json!({"description": null, "stock": null});
        let mut fields = Fields::of(&body).expect("object");
        assert_eq!(fields.optional_str("description"), None);
        assert_eq!(fields.optional_i64("stock"), None);
        assert!(fields.finish().is_ok());
    }

    #[test]
    fn exact_number_text_is_kept_for_money() {
        let body = json!({"price": 19.99});
        let mut fields = Fields::of(&body).expect("object");
        assert_eq!(
            fields.required_number_text("price").as_deref(),
            Some("19.99")
        );
    }

    #[test]
    fn number_literals_keep_the_exact_text_sent() {
        let raw = br#"{"price": 19.999999999999999, "big": 1e2, "name": "x", "n": -0.50}"#;
        let body: Value = serde_json::from_slice(raw).expect("json");
        let mut fields = Fields::of(&body).expect("object").with_number_literals(raw);

        assert_eq!(
            fields.required_number_text("price").as_deref(),
            Some("19.999999999999999")
        );
        assert_eq!(fields.required_number_text("big").as_deref(), Some("1e2"));
        assert_eq!(fields.required_number_text("n").as_deref(), Some("-0.50"));
        assert!(number_literals(b"[1, 2]").is_empty());
    }

    #[test]
    fn parsed_values_pass_through_and_parse_failures_become_invalid_fields() {
        let body = json!({ "age": 7, "code": "x" });
        let mut fields = Fields::of(&body).expect("object");
        let age = fields.required_i64("age");
        let code = fields.required_str("code");
        let absent = fields.required_str("absent");

        let age = fields.parsed("age", age, |n| {
            if n > 0 {
                Ok(n)
            } else {
                Err("must be positive")
            }
        });
        let code = fields.parsed("code", code, |c: &str| {
            if c.len() > 2 {
                Ok(c)
            } else {
                Err("is too short")
            }
        });
        let absent = fields.parsed("absent", absent, |a: &str| Ok::<_, String>(a));

        assert_eq!(age, Some(7));
        assert_eq!(code, None);
        assert_eq!(absent, None);
        assert_eq!(
            details(fields.finish()),
            json!({ "missingFields": ["absent"], "invalidFields": { "code": "is too short" } })
        );
    }
}
