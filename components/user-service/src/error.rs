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
    /// An account exists for this address (in any case).
    #[error("an account exists for {email}")]
    EmailTaken { email: String },
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::Store(error) => error.into(),
            Error::EmailTaken { email } => {
                ApiError::conflict("User already exists").with_details(json!({ "email": email }))
            }
        }
    }
}
