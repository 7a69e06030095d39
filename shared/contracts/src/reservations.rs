//! Stock reservations: the product service's private endpoints, as the order service calls
//! them. A reservation is all or nothing, keyed by the order id, and idempotent both ways.

use serde::{Deserialize, Serialize};

/// `POST /reservations`.
pub const RESERVE_PATH: &str = "/reservations";

/// `POST /reservations/{orderId}/release`.
pub fn release_path(order_id: &str) -> String {
    format!("/reservations/{order_id}/release")
}

/// The body of `POST /reservations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationRequest {
    pub order_id: String,
    pub items: Vec<ReservationLine>,
}

/// One product and how many units of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationLine {
    pub product_id: String,
    pub quantity: i64,
}

/// Where a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReservationStatus {
    /// The stock is held for the order.
    Reserved,
    /// The stock went back, or the order was released before anything was reserved (a
    /// tombstone: a reservation arriving later for it is refused).
    Released,
}

/// A reservation with the authoritative name and price of each line (201 when made, 200 when
/// a repeat of the same order returns the first outcome).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub order_id: String,
    pub status: ReservationStatus,
    pub items: Vec<ReservedLine>,
}

/// One reserved line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservedLine {
    pub product_id: String,
    pub product_name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

/// The answer of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Released {
    pub order_id: String,
    pub status: ReservationStatus,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_wire_shape_is_camel_case() {
        let reservation = Reservation {
            order_id: "ord_1".into(),
            status: ReservationStatus::Reserved,
            items: vec![ReservedLine {
                product_id: "prd_1".into(),
                product_name: "Pen".into(),
                quantity: 2,
                unit_price_cents: 150,
            }],
        };

        assert_eq!(
            serde_json::to_value(&reservation).expect("serialises"),
            json!({"orderId": "ord_1", "status": "reserved", "items": [
                {"productId": "prd_1", "productName": "Pen", "quantity": 2, "unitPriceCents": 150}]})
        );
        assert_eq!(release_path("ord_1"), "/reservations/ord_1/release");
    }
}
