//! How this service fails below its handlers, and how each failure reaches the client: one
//! `From`.

use http_service::ApiError;
use serde_json::json;
use store::StoreError;

/// A failure below the handlers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed (logged; the client sees a 500 without the cause, or a 503 with
    /// `Retry-After` when it stayed locked).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The attempt outlived its lease and a later request is giving its stock back, so it is
    /// not placed.
    #[error("order attempt {order_id} outlived its lease")]
    AttemptCancelled { order_id: String },
    /// Another request took this attempt's idempotency key over (its lease had passed), so
    /// this one may not complete it.
    #[error("the idempotency key of attempt {order_id} was taken over")]
    KeyTakenOver { order_id: String },
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::Store(error) => error.into(),
            Error::AttemptCancelled { order_id } => ApiError::service_unavailable(
                "The order took too long and was cancelled; no stock was taken",
            )
            .with_details(json!({ "orderId": order_id })),
            Error::KeyTakenOver { order_id } => ApiError::conflict(
                "A newer request with this Idempotency-Key took it over; no order was placed",
            )
            .with_details(json!({ "orderId": order_id })),
        }
    }
}
