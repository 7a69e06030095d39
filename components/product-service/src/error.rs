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
    /// No product has this id (or, for a reservation, no active one).
    #[error("no product {product_id}")]
    ProductNotFound { product_id: String },
    /// Fewer units than asked for.
    #[error("{available} of {product_id} in stock, {requested} asked for")]
    InsufficientStock {
        product_id: String,
        requested: i64,
        available: i64,
    },
    /// The order's reservation was released (or the order released before it reserved).
    #[error("the reservation of {order_id} was released")]
    ReservationReleased { order_id: String },
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::Store(error) => error.into(),
            Error::ProductNotFound { product_id } => ApiError::not_found("Product not found")
                .with_details(json!({ "productId": product_id })),
            Error::InsufficientStock {
                product_id,
                requested,
                available,
            } => ApiError::insufficient_stock(json!({
                "productId": product_id, "requested": requested, "available": available,
            })),
            Error::ReservationReleased { order_id } => {
                ApiError::conflict("This order's reservation was released")
                    .with_details(json!({ "orderId": order_id }))
            }
        }
    }
}
