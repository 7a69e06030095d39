//! What each event means for users.

use contracts::events::EventPayload;
use serde::Serialize;
use serde_json::{Value, json};

/// A notification to create for a user.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub user_id: String,
    pub kind: &'static str,
    pub title: String,
    pub message: String,
    pub data: Value,
}

/// The notification an event causes, if any (`product.created` causes none).
pub fn notification_for(payload: &EventPayload) -> Option<NewNotification> {
    match payload {
        EventPayload::UserCreated(user) => Some(NewNotification {
            user_id: user.user_id.clone(),
            kind: "welcome",
            title: "Welcome!".to_string(),
            message: format!("Hi {}, your account is ready. Happy shopping!", user.name),
            data: json!({}),
        }),
        EventPayload::OrderCreated(order) => Some(NewNotification {
            user_id: order.user_id.clone(),
            kind: "order.confirmation",
            title: "Order confirmed".to_string(),
            message: format!(
                "Your order {} totalling {} has been received.",
                order.order_id,
                json!(order.total_amount)
            ),
            data: json!({ "orderId": order.order_id, "totalAmount": order.total_amount }),
        }),
        EventPayload::OrderCancelled(order) => Some(NewNotification {
            user_id: order.user_id.clone(),
            kind: "order.cancelled",
            title: "Order cancelled".to_string(),
            message: format!(
                "Your order {} was cancelled ({}); its total of {} will not be charged.",
                order.order_id,
                cancel_wording(&order.reason),
                json!(order.total_amount)
            ),
            data: json!({
                "orderId": order.order_id, "totalAmount": order.total_amount,
                "status": "cancelled", "reason": order.reason,
            }),
        }),
        EventPayload::OrderStatusChanged(order) => Some(NewNotification {
            user_id: order.user_id.clone(),
            kind: "order.status",
            title: format!("Order {}", order.status),
            message: format!("Your order {} is now {}.", order.order_id, order.status),
            data: json!({
                "orderId": order.order_id, "totalAmount": order.total_amount,
                "status": order.status,
            }),
        }),
        EventPayload::ProductCreated(_) | EventPayload::ProductUpdated(_) => None,
    }
}

/// How a cancellation's reason reads in a message.
fn cancel_wording(reason: &str) -> &'static str {
    match reason {
        "customer" => "at your request",
        "expired" => "it was not confirmed in time",
        _ => "by the shop",
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
    use contracts::events::{OrderCreated, ProductCreated, UserCreated};

    #[test]
    fn user_created_welcomes_the_user() {
        let note = notification_for(&EventPayload::UserCreated(UserCreated {
            user_id: "u1".into(),
            email: "ann@example.com".into(),
            name: "Ann".into(),
        }))
        .expect("welcome");
        assert_eq!((note.user_id.as_str(), note.kind), ("u1", "welcome"));
        assert!(note.message.contains("Ann"));
    }

    #[test]
    fn order_created_confirms_with_id_and_total() {
        let note = notification_for(&EventPayload::OrderCreated(OrderCreated {
            order_id: "ord_9".into(),
            user_id: "u1".into(),
            total_amount: 12.5,
            item_count: 1,
        }))
        .expect("confirmation");
        assert_eq!(note.kind, "order.confirmation");
        assert!(note.message.contains("ord_9"));
        assert!(note.message.contains("12.5"));
        assert_eq!(note.data, json!({"orderId": "ord_9", "totalAmount": 12.5}));
    }

    #[test]
    fn order_moves_and_cancellations_tell_the_owner_with_the_new_status() {
        use contracts::events::{OrderCancelled, OrderStatusChanged};
        let shipped = notification_for(&EventPayload::OrderStatusChanged(OrderStatusChanged {
            order_id: "ord_9".into(),
            user_id: "u1".into(),
            total_amount: 3.0,
            from: "confirmed".into(),
            status: "shipped".into(),
        }))
        .expect("status notification");
        assert_eq!(
            (shipped.user_id.as_str(), shipped.kind),
            ("u1", "order.status")
        );
        assert!(shipped.message.contains("ord_9") && shipped.message.contains("shipped"));
        assert_eq!(shipped.data["status"], "shipped");

        let cancelled = notification_for(&EventPayload::OrderCancelled(OrderCancelled {
            order_id: "ord_9".into(),
            user_id: "u1".into(),
            total_amount: 3.0,
            reason: "expired".into(),
        }))
        .expect("cancellation notification");
        assert_eq!(cancelled.kind, "order.cancelled");
        assert!(cancelled.message.contains("ord_9"));
        assert_eq!(cancelled.data["orderId"], "ord_9");
    }

    #[test]
    fn product_created_notifies_nobody() {
        let payload = EventPayload::ProductCreated(ProductCreated {
            product_id: "p".into(),
            name: "Pen".into(),
            category: "c".into(),
            price: 1.0,
        });
        assert!(notification_for(&payload).is_none());
    }
}
