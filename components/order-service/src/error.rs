//! How this service's storage fails, and how each failure reaches the client: one `From`.

use response_handler::ApiError;
use serde_json::json;
use store::StoreError;

/// A failure below the handlers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed (logged; the client sees a 500 without the cause).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The attempt outlived its lease and a later request is giving its stock back, so it is
    /// not placed.
    #[error("order attempt {order_id} outlived its lease")]
    AttemptCancelled { order_id: String },
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::Store(error) => ApiError::internal(error),
            Error::AttemptCancelled { order_id } => ApiError::service_unavailable(
                "The order took too long and was cancelled; no stock was taken",
            )
            .with_details(json!({ "orderId": order_id })),
        }
    }
}
