//! Domain events: one payload type per event, named on the wire by its `type`.

use platform::services::events;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A new account: the user service, after a registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserCreated {
    pub user_id: String,
    pub email: String,
    pub name: String,
}

/// A new catalog entry: the product service, after an admin created it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductCreated {
    pub product_id: String,
    pub name: String,
    pub category: String,
    /// The price as the API shows it (a JSON number with at most two decimals).
    pub price: f64,
}

/// A catalogue entry changed: the product service, after an admin's update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductUpdated {
    pub product_id: String,
    pub name: String,
    pub category: String,
    /// The price as the API shows it, after the change.
    pub price: f64,
    pub is_active: bool,
    /// The fields the update changed (`name`, `price`, ...).
    pub changed: Vec<String>,
}

/// A placed order: the order service, in the order's own transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    pub order_id: String,
    pub user_id: String,
    /// The total as the API shows it (a JSON number with at most two decimals).
    pub total_amount: f64,
    /// Distinct products in the order.
    pub item_count: usize,
}

/// An order cancelled (by its owner, an admin, or expiry), its stock on its way back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCancelled {
    pub order_id: String,
    pub user_id: String,
    pub total_amount: f64,
    /// `customer`, `admin` or `expired`.
    pub reason: String,
}

/// An order moved on (`confirmed`, `shipped`, `delivered`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderStatusChanged {
    pub order_id: String,
    pub user_id: String,
    pub total_amount: f64,
    pub from: String,
    pub status: String,
}

/// What happened, with its data: `{"type": "order.created", "data": {...}}` on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EventPayload {
    #[serde(rename = "user.created")]
    UserCreated(UserCreated),
    #[serde(rename = "product.created")]
    ProductCreated(ProductCreated),
    #[serde(rename = "order.created")]
    OrderCreated(OrderCreated),
    #[serde(rename = "product.updated")]
    ProductUpdated(ProductUpdated),
    #[serde(rename = "order.cancelled")]
    OrderCancelled(OrderCancelled),
    #[serde(rename = "order.status_changed")]
    OrderStatusChanged(OrderStatusChanged),
}

impl EventPayload {
    /// The wire name, e.g. `order.created`.
    pub fn event_type(&self) -> &'static str {
        match self {
            EventPayload::UserCreated(_) => events::USER_CREATED,
            EventPayload::ProductCreated(_) => events::PRODUCT_CREATED,
            EventPayload::ProductUpdated(_) => events::PRODUCT_UPDATED,
            EventPayload::OrderCreated(_) => events::ORDER_CREATED,
            EventPayload::OrderCancelled(_) => events::ORDER_CANCELLED,
            EventPayload::OrderStatusChanged(_) => events::ORDER_STATUS_CHANGED,
        }
    }

    /// The event's `data` object.
    pub fn data(&self) -> Value {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut fields)) => fields.remove("data").unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// Reads a payload from its type and data: `Ok(None)` for a type this version does not
    /// know (a newer producer's), an error for a known type whose data does not fit.
    pub fn parse(event_type: &str, data: Value) -> Result<Option<Self>, serde_json::Error> {
        if !KNOWN_TYPES.contains(&event_type) {
            return Ok(None);
        }
        let tagged = serde_json::json!({ "type": event_type, "data": data });
        serde_json::from_value(tagged).map(Some)
    }
}

/// Every event type of this version.
pub const KNOWN_TYPES: [&str; 6] = [
    events::USER_CREATED,
    events::PRODUCT_CREATED,
    events::PRODUCT_UPDATED,
    events::ORDER_CREATED,
    events::ORDER_CANCELLED,
    events::ORDER_STATUS_CHANGED,
];

/// An event as delivered to the notification service's `POST /events`:
/// `{id, type, occurredAt, source, data}`. The type stays text so that a consumer can take
/// (and ignore) types it does not know; [`EventPayload::parse`] reads the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Unique per event; consumers use it to take each event once.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339, UTC, milliseconds.
    pub occurred_at: String,
    /// The producing component.
    pub source: String,
    #[serde(default)]
    pub data: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_have_their_wire_type_and_camel_case_data() {
        let payload = EventPayload::OrderCreated(OrderCreated {
            order_id: "ord_1".into(),
            user_id: "usr_1".into(),
            total_amount: 12.5,
            item_count: 2,
        });

        assert_eq!(payload.event_type(), "order.created");
        assert_eq!(
            payload.data(),
            json!({"orderId": "ord_1", "userId": "usr_1", "totalAmount": 12.5, "itemCount": 2})
        );
        assert_eq!(
            EventPayload::parse("order.created", payload.data()).expect("fits"),
            Some(payload)
        );
    }

    #[test]
    fn unknown_types_are_none_and_bad_data_for_a_known_type_is_an_error() {
        assert_eq!(
            EventPayload::parse("stock.counted", json!({"x": 1})).ok(),
            Some(None)
        );
        assert!(EventPayload::parse("user.created", json!({"userId": 7})).is_err());
    }

    #[test]
    fn every_known_type_round_trips() {
        let payloads = [
            EventPayload::UserCreated(UserCreated {
                user_id: "u".into(),
                email: "a@b.co".into(),
                name: "Ann".into(),
            }),
            EventPayload::ProductCreated(ProductCreated {
                product_id: "p".into(),
                name: "Pen".into(),
                category: "c".into(),
                price: 1.5,
            }),
            EventPayload::ProductUpdated(ProductUpdated {
                product_id: "p".into(),
                name: "Pen".into(),
                category: "c".into(),
                price: 2.0,
                is_active: false,
                changed: vec!["price".into(), "isActive".into()],
            }),
            EventPayload::OrderCancelled(OrderCancelled {
                order_id: "o".into(),
                user_id: "u".into(),
                total_amount: 3.0,
                reason: "expired".into(),
            }),
            EventPayload::OrderStatusChanged(OrderStatusChanged {
                order_id: "o".into(),
                user_id: "u".into(),
                total_amount: 3.0,
                from: "confirmed".into(),
                status: "shipped".into(),
            }),
        ];
        for payload in payloads {
            assert!(KNOWN_TYPES.contains(&payload.event_type()));
            let read = EventPayload::parse(payload.event_type(), payload.data()).expect("fits");
            assert_eq!(read, Some(payload));
        }
    }

    #[test]
    fn every_known_type_has_its_producer_named_in_platform() {
        for event_type in KNOWN_TYPES {
            assert!(
                platform::Service::producer_of(event_type).is_some(),
                "{event_type}"
            );
        }
        let produced: usize = platform::Service::producers()
            .map(|service| service.produces().len())
            .sum();
        assert_eq!(produced, KNOWN_TYPES.len());
    }
}
