//! Product-service domain: every input parsed into types once (a new product, a change to
//! one, a stock change, a list query, a reservation), money in integer cents, and the product
//! as clients see it.

use contracts::reservations::ReservationLine;
use http_service::{ApiError, Fields, Query, clean_text};
use serde::Serialize;
use serde_json::{Value, json};

pub use money::Cents;

/// Longest product name, category and description, in characters as sent.
const MAX_NAME_CHARS: usize = 200;
const MAX_CATEGORY_CHARS: usize = 100;
const MAX_DESCRIPTION_CHARS: usize = 5000;
/// Longest search text, in characters.
const MAX_SEARCH_CHARS: usize = 200;
/// Lines one reservation may hold (the order service allows 50).
pub const MAX_RESERVATION_LINES: usize = 50;

/// A stock change: a whole number of units, 1 to 1,000,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i64);

impl Quantity {
    pub const MAX: i64 = 1_000_000_000;

    pub fn parse(value: i64) -> Result<Self, &'static str> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err("must be an integer from 1 to 1000000000")
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// Initial stock of a new product: 0 to 1,000,000,000.
pub fn parse_initial_stock(value: i64) -> Result<i64, &'static str> {
    if (0..=Quantity::MAX).contains(&value) {
        Ok(value)
    } else {
        Err("must be an integer from 0 to 1000000000")
    }
}

/// Which way a stock change goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockOperation {
    Increase,
    Decrease,
}

impl StockOperation {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match raw {
            "increase" => Ok(Self::Increase),
            "decrease" => Ok(Self::Decrease),
            _ => Err("must be \"increase\" or \"decrease\""),
        }
    }
}

/// A line of text of at most `max_chars` characters as sent, with no invisible or control
/// character, trimmed, not blank (names and categories).
pub fn bounded_text(raw: &str, max_chars: usize) -> Result<String, String> {
    clean_text(raw, max_chars)?.ok_or_else(|| "must not be empty".to_string())
}

/// A description: free text over several lines, any character, at most 5000 as sent.
fn parse_description(raw: &str) -> Result<String, String> {
    if raw.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(format!(
            "must be at most {MAX_DESCRIPTION_CHARS} characters"
        ));
    }
    Ok(raw.trim().to_string())
}

/// A price: read from the exact text sent (a double would turn 19.999999999999999 into 20
/// and 1e2 into 100, amounts nobody typed), more than zero.
fn price(raw: String) -> Result<Cents, String> {
    match Cents::parse(&raw) {
        Ok(cents) if cents.cents() > 0 => Ok(cents),
        Ok(_) => Err("must be greater than 0".to_string()),
        Err(reason) => Err(reason.to_string()),
    }
}

/// `POST /api/products`: `{name, description?, price, category, stock?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub name: String,
    pub description: String,
    pub price: Cents,
    pub category: String,
    pub stock: i64,
}

impl NewProduct {
    /// Every missing or invalid field at once; `raw_body` gives the price's exact text.
    pub fn parse(body: &Value, raw_body: &[u8]) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?.with_number_literals(raw_body);
        let name = fields.required_str("name");
        let description = fields.optional_str("description");
        let price_text = fields.required_number_text("price");
        let category = fields.required_str("category");
        let stock = fields.optional_i64("stock");
        let name = fields.parsed("name", name, |raw| bounded_text(raw, MAX_NAME_CHARS));
        let description = fields.parsed(
            "description",
            Some(description.unwrap_or_default()),
            parse_description,
        );
        let price = fields.parsed("price", price_text, price);
        let category = fields.parsed("category", category, |raw| {
            bounded_text(raw, MAX_CATEGORY_CHARS)
        });
        let stock = match stock {
            None => Some(0),
            given => fields.parsed("stock", given, parse_initial_stock),
        };
        let (name, description, price, category, stock) =
            fields.complete((name, description, price, category, stock))?;
        Ok(Self {
            name,
            description,
            price,
            category,
            stock,
        })
    }
}

/// `PATCH /api/products/{id}`: any of `{name, description, price, category, isActive}`, each
/// by the rules of a new product; at least one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price: Option<Cents>,
    pub category: Option<String>,
    pub is_active: Option<bool>,
}

/// The fields a change may name, as the API spells them.
pub const CHANGEABLE: [&str; 5] = ["name", "description", "price", "category", "isActive"];

impl ProductChange {
    pub fn parse(body: &Value, raw_body: &[u8]) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?.with_number_literals(raw_body);
        let given = |name: &str| body.get(name).is_some_and(|value| !value.is_null());
        let name = given("name").then(|| fields.required_str("name")).flatten();
        let description = given("description")
            .then(|| fields.optional_str("description"))
            .flatten();
        let price_text = given("price")
            .then(|| fields.required_number_text("price"))
            .flatten();
        let category = given("category")
            .then(|| fields.required_str("category"))
            .flatten();
        let is_active = match body.get("isActive") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(active)) => Some(*active),
            Some(_) => {
                fields.invalid("isActive", "must be true or false");
                None
            }
        };
        let change = Self {
            name: fields.parsed("name", name, |raw| bounded_text(raw, MAX_NAME_CHARS)),
            description: fields.parsed("description", description, parse_description),
            price: fields.parsed("price", price_text, price),
            category: fields.parsed("category", category, |raw| {
                bounded_text(raw, MAX_CATEGORY_CHARS)
            }),
            is_active,
        };
        fields.finish()?;
        if change == Self::default() {
            return Err(ApiError::validation(
                "Nothing to change",
                json!({ "missingFields": CHANGEABLE, "reason": "give at least one of these" }),
            ));
        }
        Ok(change)
    }

    /// The fields this change sets, as the API spells them.
    pub fn fields(&self) -> Vec<String> {
        let set = [
            self.name.is_some(),
            self.description.is_some(),
            self.price.is_some(),
            self.category.is_some(),
            self.is_active.is_some(),
        ];
        CHANGEABLE
            .iter()
            .zip(set)
            .filter(|(_, set)| *set)
            .map(|(name, _)| name.to_string())
            .collect()
    }
}

/// `PATCH /api/products/{id}/stock`: `{quantity, operation}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockChange {
    pub quantity: Quantity,
    pub operation: StockOperation,
}

impl StockChange {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let quantity = fields.required_i64("quantity");
        let operation = fields.required_str("operation");
        let quantity = fields.parsed("quantity", quantity, Quantity::parse);
        let operation = fields.parsed("operation", operation, StockOperation::parse);
        let (quantity, operation) = fields.complete((quantity, operation))?;
        Ok(Self {
            quantity,
            operation,
        })
    }

    /// The signed change of the stock.
    pub fn delta(&self) -> i64 {
        match self.operation {
            StockOperation::Increase => self.quantity.get(),
            StockOperation::Decrease => -self.quantity.get(),
        }
    }
}

/// Turns free text into an FTS5 query: each word a quoted prefix term, all required.
/// FTS5 syntax in the input (quotes, operators, column filters) has no effect.
pub fn fts_query(search: &str) -> Option<String> {
    let terms: Vec<String> = search
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(16)
        .map(|word| format!("\"{}\"*", word.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// The filters of `GET /api/products`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub category: Option<String>,
    pub min_price: Option<Cents>,
    pub max_price: Option<Cents>,
    /// An FTS5 query made by [`fts_query`].
    pub search: Option<String>,
    /// Inactive products too (admins only; the handler checks who asks).
    pub include_inactive: bool,
}

impl ListQuery {
    /// Every invalid parameter at once.
    pub fn parse(query: &Query) -> Result<Self, ApiError> {
        let mut invalid = serde_json::Map::new();
        let mut bound = |name: &str| {
            // Bounds may be 0 ("from free"), unlike a price; a blank bound is no number.
            let raw = query.raw(name)?;
            Cents::parse(raw)
                .map_err(|reason| invalid.insert(name.to_string(), json!(reason)))
                .ok()
        };
        let min_price = bound("minPrice");
        let max_price = bound("maxPrice");
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            invalid.insert(
                "minPrice".into(),
                json!("must not be greater than maxPrice"),
            );
        }
        let search = match query.get("search") {
            None => None,
            Some(text) if text.chars().count() > MAX_SEARCH_CHARS => {
                invalid.insert(
                    "search".into(),
                    json!(format!("must be at most {MAX_SEARCH_CHARS} characters")),
                );
                None
            }
            Some(text) => match fts_query(text) {
                Some(fts) => Some(fts),
                None => {
                    invalid.insert("search".into(), json!("must contain a letter or digit"));
                    None
                }
            },
        };
        let include_inactive = query.flag("includeInactive").unwrap_or_else(|error| {
            invalid.insert("includeInactive".into(), json!(error));
            false
        });
        if !invalid.is_empty() {
            return Err(ApiError::validation(
                "Invalid query parameters",
                json!({ "invalidFields": invalid }),
            ));
        }
        Ok(Self {
            category: query.get("category").map(str::to_string),
            min_price,
            max_price,
            search,
            include_inactive,
        })
    }
}

/// `POST /reservations`: `{orderId, items: [{productId, quantity}]}`, duplicate products
/// merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRequest {
    pub order_id: String,
    pub lines: Vec<ReservationLine>,
}

impl ReservationRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let order_id = fields.required_str("orderId");
        let items = fields.required_array("items");
        let mut lines: Vec<ReservationLine> = Vec::new();
        if let Some(items) = items {
            if items.is_empty() || items.len() > MAX_RESERVATION_LINES {
                fields.invalid("items", "must hold 1 to 50 lines");
            }
            for (index, item) in items.iter().take(MAX_RESERVATION_LINES).enumerate() {
                match serde_json::from_value::<ReservationLine>(item.clone()) {
                    Ok(line)
                        if Quantity::parse(line.quantity).is_ok()
                            && !line.product_id.is_empty() =>
                    {
                        match lines.iter_mut().find(|l| l.product_id == line.product_id) {
                            Some(existing) => existing.quantity += line.quantity,
                            None => lines.push(line),
                        }
                    }
                    _ => fields.invalid(
                        &format!("items[{index}]"),
                        "must be {productId, quantity >= 1}",
                    ),
                }
            }
        }
        let (order_id,) = fields.complete((order_id,))?;
        Ok(Self {
            order_id: order_id.to_string(),
            lines,
        })
    }
}

/// A product as clients see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: String,
    pub name: String,
    pub description: String,
    pub price: f64,
    pub category: String,
    pub stock: i64,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_stock_are_bounded() {
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(-5).is_err());
        assert_eq!(Quantity::parse(1).map(Quantity::get), Ok(1));
        assert!(Quantity::parse(Quantity::MAX + 1).is_err());
        assert_eq!(parse_initial_stock(0), Ok(0));
        assert!(parse_initial_stock(-1).is_err());
    }

    #[test]
    fn operations_are_exact_words() {
        assert_eq!(
            StockOperation::parse("increase"),
            Ok(StockOperation::Increase)
        );
        assert_eq!(
            StockOperation::parse("decrease"),
            Ok(StockOperation::Decrease)
        );
        assert!(StockOperation::parse("Decrease").is_err());
        assert!(StockOperation::parse("set").is_err());
    }

    #[test]
    fn search_text_becomes_a_safe_prefix_query() {
        assert_eq!(fts_query("Red Shoe").as_deref(), Some("\"red\"* \"shoe\"*"));
        assert_eq!(
            fts_query("name:x OR \"y").as_deref(),
            Some("\"name\"* \"x\"* \"or\"* \"y\"*")
        );
        assert_eq!(fts_query("  !!  "), None);
    }

    #[test]
    fn text_fields_are_trimmed_and_bounded() {
        assert_eq!(bounded_text("  Mug ", 10), Ok("Mug".to_string()));
        assert!(bounded_text("   ", 10).is_err());
        assert!(bounded_text("abcdef", 5).is_err());
    }

    fn new_product(body: Value) -> Result<NewProduct, ApiError> {
        NewProduct::parse(&body, body.to_string().as_bytes())
    }

    #[test]
    fn a_new_product_defaults_its_stock_and_description_and_reads_the_exact_price() {
        let raw = br#"{"name": " Lamp ", "price": 19.99, "category": "home"}"#;
        let body: Value = serde_json::from_slice(raw).expect("json");

        let product = NewProduct::parse(&body, raw).expect("valid");

        assert_eq!(product.name, "Lamp");
        assert_eq!(product.description, "");
        assert_eq!(product.price.cents(), 1999);
        assert_eq!(product.stock, 0);
    }

    #[test]
    fn a_new_product_reports_every_problem() {
        let error = new_product(json!({"price": 0, "category": "", "stock": -1})).expect_err("bad");
        let details = error.details.expect("details");
        assert_eq!(details["missingFields"], json!(["name", "category"]));
        assert!(details["invalidFields"]["price"].is_string());
        assert!(details["invalidFields"]["stock"].is_string());
    }

    fn change(body: Value) -> Result<ProductChange, ApiError> {
        ProductChange::parse(&body, body.to_string().as_bytes())
    }

    #[test]
    fn a_change_takes_any_field_by_the_rules_of_create() {
        let parsed = change(json!({"price": 2.5, "isActive": false})).expect("valid");
        assert_eq!(parsed.price.map(Cents::cents), Some(250));
        assert_eq!(parsed.is_active, Some(false));
        assert_eq!(parsed.name, None);
        assert_eq!(parsed.fields(), ["price", "isActive"]);

        let invalid =
            change(json!({"name": "  ", "price": -1, "isActive": "no"})).expect_err("bad");
        let details = invalid.details.expect("details");
        assert_eq!(details["missingFields"], json!(["name"]));
        assert!(details["invalidFields"]["price"].is_string());
        assert!(details["invalidFields"]["isActive"].is_string());
    }

    #[test]
    fn a_change_must_change_something() {
        assert!(change(json!({})).is_err());
        assert!(change(json!({"stock": 5, "role": "admin"})).is_err());
        assert!(change(json!({"description": ""})).is_ok());
    }

    #[test]
    fn list_queries_check_every_parameter() {
        let query = Query::parse("minPrice=5&maxPrice=1&includeInactive=maybe&search=!!");
        let error = ListQuery::parse(&query).expect_err("bad");
        let invalid = error.details.expect("details")["invalidFields"].clone();
        for name in ["minPrice", "includeInactive", "search"] {
            assert!(invalid.get(name).is_some(), "{name}: {invalid}");
        }
        let ok = ListQuery::parse(&Query::parse("category=home&includeInactive=true")).expect("ok");
        assert!(ok.include_inactive);
        assert_eq!(ok.category.as_deref(), Some("home"));
    }

    #[test]
    fn reservations_merge_lines_and_refuse_bad_ones() {
        let parsed = ReservationRequest::parse(&json!({"orderId": "o", "items": [
            {"productId": "p", "quantity": 2}, {"productId": "p", "quantity": 3}
        ]}))
        .expect("valid");
        assert_eq!(parsed.lines.len(), 1);
        assert_eq!(parsed.lines[0].quantity, 5);
        assert!(
            ReservationRequest::parse(
                &json!({"orderId": "o", "items": [{"productId": "p", "quantity": 0}]})
            )
            .is_err()
        );
        assert!(ReservationRequest::parse(&json!({"orderId": "o", "items": []})).is_err());
    }
}
