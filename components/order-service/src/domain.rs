//! Order-service domain: every input parsed into types (an order, a status move, a list
//! query, an `Idempotency-Key`), totals in exact cents, and the order lifecycle: which moves
//! between the five statuses exist.

use std::collections::HashMap;

use contracts::reservations::ReservedLine;
use http_service::{ApiError, Fields, Query, json_integer};
use money::Cents;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Entries the `items` array may have (so lines after merging duplicates, too). A longer
/// array is refused before a single entry is read: a 1 MiB body holds tens of thousands.
pub const MAX_ITEM_ENTRIES: usize = 50;
/// Longest product id, in characters as sent.
const MAX_PRODUCT_ID_CHARS: usize = 100;
/// Units of one product per order.
pub const MAX_QUANTITY: i64 = 1000;
/// Longest address field, in characters.
const MAX_ADDRESS_FIELD: usize = 200;

/// One requested line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub product_id: String,
    pub quantity: i64,
}

/// Where the order goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingAddress {
    pub street: String,
    pub city: String,
    pub postal_code: String,
    pub country: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub state: Option<String>,
}

/// A valid order request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub lines: Vec<OrderLine>,
    pub shipping_address: ShippingAddress,
}

impl OrderRequest {
    /// Parses `{items: [{productId, quantity}], shippingAddress}`, reporting every problem.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let items = fields.required_array("items");
        let mut lines: Vec<OrderLine> = Vec::new();
        // Where each product's line is in `lines`, so merging duplicates stays linear.
        let mut line_of: HashMap<String, usize> = HashMap::new();
        if let Some(items) = items {
            if items.is_empty() {
                fields.invalid("items", "must contain at least one item");
            }
            let items = if items.len() > MAX_ITEM_ENTRIES {
                fields.invalid(
                    "items",
                    format!("must have at most {MAX_ITEM_ENTRIES} entries"),
                );
                &items[..0]
            } else {
                &items[..]
            };
            for (index, item) in items.iter().enumerate() {
                let name = format!("items[{index}]");
                let Some(object) = item.as_object() else {
                    fields.invalid(&name, "must be an object");
                    continue;
                };
                let product_id = match object.get("productId") {
                    Some(Value::String(id))
                        if !id.trim().is_empty() && id.chars().count() <= MAX_PRODUCT_ID_CHARS =>
                    {
                        Some(id.trim().to_string())
                    }
                    None | Some(Value::Null) => {
                        fields.invalid(&format!("{name}.productId"), "is required");
                        None
                    }
                    Some(_) => {
                        fields.invalid(&format!("{name}.productId"), "must be a non-empty string");
                        None
                    }
                };
                let quantity = match object.get("quantity").and_then(json_integer) {
                    Some(q) if (1..=MAX_QUANTITY).contains(&q) => Some(q),
                    _ => {
                        fields.invalid(
                            &format!("{name}.quantity"),
                            "must be an integer from 1 to 1000",
                        );
                        None
                    }
                };
                if let (Some(product_id), Some(quantity)) = (product_id, quantity) {
                    match line_of.get(&product_id) {
                        Some(&at) => lines[at].quantity += quantity,
                        None => {
                            line_of.insert(product_id.clone(), lines.len());
                            lines.push(OrderLine {
                                product_id,
                                quantity,
                            });
                        }
                    }
                }
            }
            for line in &lines {
                if line.quantity > MAX_QUANTITY {
                    fields.invalid(
                        "items",
                        format!("{} exceeds 1000 units once merged", line.product_id),
                    );
                }
            }
        }
        let address = match fields.required_object("shippingAddress") {
            Some(mut address) => {
                let street = address.required_text("street", MAX_ADDRESS_FIELD);
                let city = address.required_text("city", MAX_ADDRESS_FIELD);
                let postal_code = address.required_text("postalCode", MAX_ADDRESS_FIELD);
                let country = address.required_text("country", MAX_ADDRESS_FIELD);
                let name = address.optional_text("name", MAX_ADDRESS_FIELD);
                let line2 = address.optional_text("line2", MAX_ADDRESS_FIELD);
                let state = address.optional_text("state", MAX_ADDRESS_FIELD);
                let parsed = match (street, city, postal_code, country) {
                    (Some(street), Some(city), Some(postal_code), Some(country)) => {
                        Some(ShippingAddress {
                            street,
                            city,
                            postal_code,
                            country,
                            name,
                            line2,
                            state,
                        })
                    }
                    _ => None,
                };
                fields.absorb(address);
                parsed
            }
            None => None,
        };
        let (shipping_address,) = fields.complete((address,))?;
        Ok(Self {
            lines,
            shipping_address,
        })
    }
}

/// Where an order stands. `pending` holds its stock until it is confirmed (or its hold
/// passes); `cancelled` has given it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] = [
        OrderStatus::Pending,
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Whether the lifecycle has the move from this status to `to`: pending -> confirmed ->
    /// shipped -> delivered, and cancelled from pending or confirmed. Nothing else.
    pub fn can_move_to(self, to: OrderStatus) -> bool {
        use OrderStatus::{Cancelled, Confirmed, Delivered, Pending, Shipped};
        matches!(
            (self, to),
            (Pending, Confirmed)
                | (Confirmed, Shipped)
                | (Shipped, Delivered)
                | (Pending | Confirmed, Cancelled)
        )
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an order was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CancelReason {
    /// Its owner cancelled it.
    Customer,
    /// An admin cancelled it.
    Admin,
    /// It was not confirmed within `order_hold_minutes`.
    Expired,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::Customer => "customer",
            CancelReason::Admin => "admin",
            CancelReason::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Customer, Self::Admin, Self::Expired]
            .into_iter()
            .find(|reason| reason.as_str() == text)
    }
}

/// `PATCH /api/orders/{id}/status`: `{status}`, one of the five.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusMove {
    pub to: OrderStatus,
}

impl StatusMove {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let status = fields.required_str("status");
        let to = fields.parsed("status", status, |raw| {
            OrderStatus::parse(raw)
                .ok_or("must be pending, confirmed, shipped, delivered or cancelled")
        });
        let (to,) = fields.complete((to,))?;
        Ok(Self { to })
    }
}

/// The 409 for a move the lifecycle does not have.
pub fn refused_move(from: OrderStatus, to: OrderStatus) -> ApiError {
    ApiError::conflict(format!("An order cannot move from {from} to {to}"))
        .with_details(json!({ "from": from, "to": to }))
}

/// `GET /api/orders`: `all` (every user's, admins only), `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery {
    pub all: bool,
    pub status: Option<OrderStatus>,
}

impl ListQuery {
    pub fn parse(query: &Query) -> Result<Self, ApiError> {
        let mut invalid = serde_json::Map::new();
        let all = query.flag("all").unwrap_or_else(|error| {
            invalid.insert("all".into(), json!(error));
            false
        });
        let status = match query.raw("status") {
            None => None,
            Some(raw) => match OrderStatus::parse(raw) {
                Some(status) => Some(status),
                None => {
                    invalid.insert(
                        "status".into(),
                        json!("must be pending, confirmed, shipped, delivered or cancelled"),
                    );
                    None
                }
            },
        };
        if invalid.is_empty() {
            Ok(Self { all, status })
        } else {
            Err(ApiError::validation(
                "Invalid query parameters",
                json!({ "invalidFields": invalid }),
            ))
        }
    }
}

/// How long a pending order holds its stock unless `order_hold_minutes` says otherwise.
pub const DEFAULT_HOLD_MINUTES: u64 = 30;

/// How long a pending order holds its stock before it is cancelled as expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    Forever,
    Minutes(u64),
}

impl Hold {
    /// `order_hold_minutes`: `0` never expires; unset or not a number gives the default.
    pub fn from_minutes(minutes: Option<u64>) -> Self {
        match minutes {
            Some(0) => Hold::Forever,
            Some(minutes) => Hold::Minutes(minutes),
            None => Hold::Minutes(DEFAULT_HOLD_MINUTES),
        }
    }

    /// Orders created before this time (RFC 3339, as stored), as of `now_millis`, are past
    /// their hold; `None` when holds never pass.
    pub fn cutoff(self, now_millis: i64) -> Option<String> {
        match self {
            Hold::Forever => None,
            Hold::Minutes(minutes) => {
                let millis = i64::try_from(minutes.saturating_mul(60_000)).unwrap_or(i64::MAX);
                Some(platform::clock::rfc3339_from_millis(
                    now_millis.saturating_sub(millis),
                ))
            }
        }
    }
}

/// A priced line, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricedLine {
    pub product_id: String,
    pub product_name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub total_price_cents: i64,
}

/// Prices each reserved line and the order in exact cents; `None` on (absurd) overflow.
pub fn price_lines(reserved: &[ReservedLine]) -> Option<(Vec<PricedLine>, Cents)> {
    let mut total = Cents::from_cents(0);
    let mut lines = Vec::with_capacity(reserved.len());
    for line in reserved {
        let line_total = Cents::from_cents(line.unit_price_cents).times(line.quantity)?;
        total = total.plus(line_total)?;
        lines.push(PricedLine {
            product_id: line.product_id.clone(),
            product_name: line.product_name.clone(),
            quantity: line.quantity,
            unit_price_cents: line.unit_price_cents,
            total_price_cents: line_total.cents(),
        });
    }
    Some((lines, total))
}

/// An `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn parse_idempotency_key(raw: &str) -> Result<String, &'static str> {
    let key = raw.trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be 1 to 255 visible ASCII characters");
    }
    Ok(key.to_string())
}

/// A fingerprint of the request body that ignores key order and whitespace.
pub fn body_fingerprint(body: &Value) -> String {
    use sha2::{Digest, Sha256};
    fn canonical(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), canonical(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }
    let digest = Sha256::digest(canonical(body).to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn address() -> Value {
        json!({"street": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"})
    }

    fn details(body: Value) -> Value {
        OrderRequest::parse(&body)
            .expect_err("invalid")
            .details
            .expect("details")
    }

    #[test]
    fn parses_and_merges_duplicate_lines() {
        let body = json!({"items": [
            {"productId": "p1", "quantity": 2}, {"productId": "p2", "quantity": 1}, {"productId": "p1", "quantity": 3}
        ], "shippingAddress": address()});
        let order = OrderRequest::parse(&body).expect("valid");
        assert_eq!(
            order.lines,
            vec![
                OrderLine {
                    product_id: "p1".into(),
                    quantity: 5
                },
                OrderLine {
                    product_id: "p2".into(),
                    quantity: 1
                },
            ]
        );
        assert_eq!(order.shipping_address.city, "Springfield");
        assert_eq!(order.shipping_address.line2, None);
    }

    #[test]
    fn rejects_bad_quantities_and_ids_per_item() {
        let body = json!({"items": [
            {"productId": "p1", "quantity": 0}, {"productId": "p2", "quantity": "3"},
            {"productId": "p3", "quantity": 2.5}, {"productId": "", "quantity": 1}, {"quantity": 1}, 7,
            {"productId": "p4", "quantity": 1001}
        ], "shippingAddress": address()});
        let invalid = details(body)["invalidFields"].clone();
        for key in [
            "items[0].quantity",
            "items[1].quantity",
            "items[2].quantity",
            "items[3].productId",
            "items[4].productId",
            "items[5]",
            "items[6].quantity",
        ] {
            assert!(invalid.get(key).is_some(), "{key}: {invalid}");
        }
    }

    #[test]
    fn rejects_empty_too_many_and_merged_over_limit() {
        assert!(
            details(json!({"items": [], "shippingAddress": address()}))["invalidFields"]["items"]
                .is_string()
        );
        let many: Vec<Value> = (0..51)
            .map(|i| json!({"productId": format!("p{i}"), "quantity": 1}))
            .collect();
        assert!(
            details(json!({"items": many, "shippingAddress": address()}))["invalidFields"]["items"]
                .is_string()
        );
        let merged = json!({"items": [{"productId": "p", "quantity": 600}, {"productId": "p", "quantity": 600}], "shippingAddress": address()});
        assert!(details(merged)["invalidFields"]["items"].is_string());
    }

    #[test]
    fn too_many_entries_are_refused_before_any_is_read() {
        let many: Vec<Value> = (0..26_000)
            .map(|_| json!({"productId": "p", "quantity": 1}))
            .collect();
        let invalid =
            details(json!({"items": many, "shippingAddress": address()}))["invalidFields"].clone();
        assert_eq!(invalid["items"], "must have at most 50 entries");
        assert_eq!(invalid.as_object().map(|o| o.len()), Some(1), "{invalid}");
    }

    #[test]
    fn missing_address_parts_are_listed_with_their_path() {
        let body = json!({"items": [{"productId": "p", "quantity": 1}], "shippingAddress": {"street": "x", "country": ""}});
        assert_eq!(
            details(body)["missingFields"],
            json!([
                "shippingAddress.city",
                "shippingAddress.postalCode",
                "shippingAddress.country"
            ])
        );
        let missing_all = details(json!({}));
        assert_eq!(
            missing_all["missingFields"],
            json!(["items", "shippingAddress"])
        );
    }

    fn reserved(product_id: &str, quantity: i64, unit_price_cents: i64) -> ReservedLine {
        ReservedLine {
            product_id: product_id.into(),
            product_name: product_id.to_uppercase(),
            quantity,
            unit_price_cents,
        }
    }

    #[test]
    fn totals_are_exact_cents() {
        let (lines, total) =
            price_lines(&[reserved("p1", 3, 1999), reserved("p2", 1, 1)]).expect("no overflow");
        assert_eq!(lines[0].total_price_cents, 5997);
        assert_eq!(lines[0].product_name, "P1");
        assert_eq!(total.cents(), 5998);
        assert!(price_lines(&[reserved("p", i64::MAX, 2)]).is_none());
    }

    #[test]
    fn the_lifecycle_has_exactly_its_five_moves() {
        use OrderStatus::{Cancelled, Confirmed, Delivered, Pending, Shipped};
        let allowed: Vec<(OrderStatus, OrderStatus)> = OrderStatus::ALL
            .into_iter()
            .flat_map(|from| OrderStatus::ALL.into_iter().map(move |to| (from, to)))
            .filter(|(from, to)| from.can_move_to(*to))
            .collect();
        assert_eq!(
            allowed,
            [
                (Pending, Confirmed),
                (Pending, Cancelled),
                (Confirmed, Shipped),
                (Confirmed, Cancelled),
                (Shipped, Delivered),
            ]
        );
        assert!(!Cancelled.can_move_to(Cancelled));
        assert!(!Shipped.can_move_to(Cancelled));
    }

    #[test]
    fn a_move_names_one_of_the_five_statuses() {
        assert_eq!(
            StatusMove::parse(&json!({"status": "shipped"}))
                .map(|m| m.to)
                .ok(),
            Some(OrderStatus::Shipped)
        );
        assert!(StatusMove::parse(&json!({"status": "Shipped"})).is_err());
        assert!(StatusMove::parse(&json!({})).is_err());
        let refused = refused_move(OrderStatus::Delivered, OrderStatus::Pending);
        assert_eq!(
            refused.details,
            Some(json!({"from": "delivered", "to": "pending"}))
        );
    }

    #[test]
    fn holds_pass_after_their_minutes_and_zero_never() {
        assert_eq!(Hold::from_minutes(None), Hold::Minutes(30));
        assert_eq!(Hold::from_minutes(Some(0)), Hold::Forever);
        assert_eq!(Hold::Forever.cutoff(1_000_000), None);
        assert_eq!(
            Hold::Minutes(1).cutoff(60_000).as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
    }

    #[test]
    fn list_queries_take_all_and_a_status() {
        let query = ListQuery::parse(&Query::parse("all=true&status=cancelled")).expect("valid");
        assert_eq!(
            query,
            ListQuery {
                all: true,
                status: Some(OrderStatus::Cancelled)
            }
        );
        let error = ListQuery::parse(&Query::parse("all=yes&status=lost")).expect_err("invalid");
        let invalid = error.details.expect("details")["invalidFields"].clone();
        assert!(invalid.get("all").is_some() && invalid.get("status").is_some());
    }

    #[test]
    fn idempotency_keys_and_fingerprints() {
        assert!(parse_idempotency_key("abc-123").is_ok());
        assert!(parse_idempotency_key("").is_err());
        assert!(parse_idempotency_key("has space").is_err());
        assert!(parse_idempotency_key(&"k".repeat(256)).is_err());
        assert_eq!(
            body_fingerprint(&json!({"a": 1, "b": [1, 2]})),
            body_fingerprint(&json!({"b": [1, 2], "a": 1}))
        );
        assert_ne!(
            body_fingerprint(&json!({"a": 1})),
            body_fingerprint(&json!({"a": 2}))
        );
    }
}
