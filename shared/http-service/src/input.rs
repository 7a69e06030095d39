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

/// The integer a JSON number is, as JSON Schema counts: `3` and `3.0` are 3; `2.5`, `"3"` and
/// numbers beyond `i64` are not integers.
pub fn json_integer(value: &Value) -> Option<i64> {
    const LIMIT: f64 = 9_223_372_036_854_775_807.0;
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|number| number.fract() == 0.0 && number.abs() < LIMIT)
            .map(|number| number as i64)
    })
}

/// Characters that render as nothing or reorder text: controls, format characters (zero-width
/// spaces and joiners, the soft hyphen, bidirectional overrides and isolates, BOM, tags) and
/// fillers. In a name, an address or an email they hide what is really there.
pub fn is_invisible_or_bidi(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// A line of text as the API takes it: at most `max_chars` characters as sent, none of them
/// invisible or a control, then trimmed. `Ok(None)` when nothing but whitespace is left.
pub fn clean_text(raw: &str, max_chars: usize) -> Result<Option<String>, String> {
    if raw.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    if raw.chars().any(is_invisible_or_bidi) {
        return Err("must not contain invisible or control characters".to_string());
    }
    let trimmed = raw.trim();
    Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
}

/// Values read from several fields, complete when every one of them is there.
pub trait Complete {
    type Output;
    fn complete(self) -> Option<Self::Output>;
}

macro_rules! complete_tuple {
    ($($name:ident),+) => {
        impl<$($name),+> Complete for ($(Option<$name>,)+) {
            type Output = ($($name,)+);
            #[allow(non_snake_case)]
            fn complete(self) -> Option<Self::Output> {
                let ($($name,)+) = self;
                Some(($($name?,)+))
            }
        }
    };
}
complete_tuple!(A);
complete_tuple!(A, B);
complete_tuple!(A, B, C);
complete_tuple!(A, B, C, D);
complete_tuple!(A, B, C, D, E);
complete_tuple!(A, B, C, D, E, F);

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

    /// A required line of text (see [`clean_text`]); blank counts as missing.
    pub fn required_text(&mut self, name: &str, max_chars: usize) -> Option<String> {
        let raw = self.required_str(name)?;
        match clean_text(raw, max_chars) {
            Ok(Some(text)) => Some(text),
            Ok(None) => {
                self.missing.push(self.path(name));
                None
            }
            Err(reason) => {
                self.invalid(name, reason);
                None
            }
        }
    }

    /// An optional line of text (see [`clean_text`]); `null` and blank are absent.
    pub fn optional_text(&mut self, name: &str, max_chars: usize) -> Option<String> {
        let raw = self.optional_str(name)?;
        match clean_text(raw, max_chars) {
            Ok(text) => text,
            Err(reason) => {
                self.invalid(name, reason);
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

    /// A required JSON integer (see [`json_integer`]: not `"3"`, not `2.5`).
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
        match json_integer(value) {
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

    /// The values read, once every field was present and valid; otherwise one validation error
    /// naming every problem. A reader that returns nothing has always recorded why, so a clean
    /// reader has every value (were it not so, that would be a bug here: a 500).
    pub fn complete<T: Complete>(self, values: T) -> Result<T::Output, ApiError> {
        self.finish()?;
        values.complete().ok_or_else(|| {
            ApiError::internal("a field reader returned no value without recording why")
        })
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
    fn integers_are_whole_numbers_whatever_their_spelling() {
        assert_eq!(json_integer(&json!(3)), Some(3));
        assert_eq!(json_integer(&json!(3.0)), Some(3));
        assert_eq!(json_integer(&json!(-7.0)), Some(-7));
        assert_eq!(json_integer(&json!(2.5)), None);
        assert_eq!(json_integer(&json!("3")), None);
        assert_eq!(json_integer(&json!(1e300)), None);
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
    fn text_counts_characters_as_sent_refuses_invisible_ones_and_trims() {
        assert_eq!(clean_text("  Ann  ", 7), Ok(Some("Ann".to_string())));
        assert!(
            clean_text("  Ann  ", 6).is_err(),
            "the length counts what was sent"
        );
        assert_eq!(clean_text(" \u{3000} ", 10), Ok(None));
        for raw in ["A\tB", "Ann\u{200B}", "\u{202E}nnA", "x\u{E0041}"] {
            assert!(clean_text(raw, 10).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn complete_gives_every_value_or_every_problem() {
        let body = json!({"a": "x", "b": 2});
        let mut fields = Fields::of(&body).expect("object");
        let a = fields.required_text("a", 5);
        let b = fields.required_i64("b");
        assert_eq!(fields.complete((a, b)).ok(), Some(("x".to_string(), 2)));

        let body = json!({"a": "   "});
        let mut fields = Fields::of(&body).expect("object");
        let a = fields.required_text("a", 5);
        let b = fields.required_i64("b");
        let error = fields.complete((a, b)).expect_err("missing");
        assert_eq!(
            error.details.expect("details")["missingFields"],
            json!(["a", "b"])
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
