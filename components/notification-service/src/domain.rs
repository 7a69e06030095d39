//! What each event means for users.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// An event as producers deliver it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IncomingEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: String,
    pub source: String,
    #[serde(default)]
    pub data: Value,
}

/// A notification to create for a user.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub user_id: String,
    pub kind: &'static str,
    pub title: String,
    pub message: String,
    pub data: Value,
}

/// The notification an event causes, if any (`product.created` and unknown types cause none).
pub fn notification_for(event: &IncomingEvent) -> Option<NewNotification> {
    let text = |key: &str| {
        event
            .data
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match event.event_type.as_str() {
        "user.created" => {
            let user_id = text("userId")?;
            let name = text("name").unwrap_or_else(|| "there".to_string());
            Some(NewNotification {
                user_id,
                kind: "welcome",
                title: "Welcome!".to_string(),
                message: format!("Hi {name}, your account is ready. Happy shopping!"),
                data: json!({}),
            })
        }
        "order.created" => {
            let user_id = text("userId")?;
            let order_id = text("orderId")?;
            let total = event
                .data
                .get("totalAmount")
                .cloned()
                .unwrap_or(Value::Null);
            Some(NewNotification {
                user_id,
                kind: "order.confirmation",
                title: "Order confirmed".to_string(),
                message: format!("Your order {order_id} totalling {total} has been received."),
                data: json!({ "orderId": order_id, "totalAmount": total }),
            })
        }
        _ => None,
    }
}

/// A notification as clients see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub message: String,
    pub data: Value,
    pub read: bool,
    pub created_at: String,
    pub read_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str, data: Value) -> IncomingEvent {
        IncomingEvent {
            id: "evt_1".into(),
            event_type: event_type.into(),
            occurred_at: "2026-11-24T10:00:00.000Z".into(),
            source: "test".into(),
            data,
        }
    }

    #[test]
    fn user_created_welcomes_the_user() {
        let note = notification_for(&event(
            "user.created",
            json!({"userId": "u1", "name": "Ann"}),
        ))
        .expect("welcome");
        assert_eq!((note.user_id.as_str(), note.kind), ("u1", "welcome"));
        assert!(note.message.contains("Ann"));
    }

    #[test]
    fn order_created_confirms_with_id_and_total() {
        let note = notification_for(&event(
            "order.created",
            json!({"userId": "u1", "orderId": "ord_9", "totalAmount": 12.5}),
        ))
        .expect("confirmation");
        assert_eq!(note.kind, "order.confirmation");
        assert!(note.message.contains("ord_9"));
        assert_eq!(note.data, json!({"orderId": "ord_9", "totalAmount": 12.5}));
    }

    #[test]
    fn product_created_and_unknown_events_notify_nobody() {
        assert!(notification_for(&event("product.created", json!({"productId": "p"}))).is_none());
        assert!(notification_for(&event("something.else", json!({}))).is_none());
        assert!(
            notification_for(&event("order.created", json!({"orderId": "o"}))).is_none(),
            "no user"
        );
    }
}
