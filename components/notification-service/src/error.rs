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
    /// No notification of this user has this id (another user's is none of theirs either).
    #[error("no notification {notification_id} of this user")]
    NotificationNotFound { notification_id: String },
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::Store(error) => error.into(),
            Error::NotificationNotFound { notification_id } => {
                ApiError::not_found("Notification not found")
                    .with_details(json!({ "notificationId": notification_id }))
            }
        }
    }
}
