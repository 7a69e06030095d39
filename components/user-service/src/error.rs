//! How this service's storage fails, and how each failure reaches the client: one `From`.

use response_handler::ApiError;
use store::StoreError;

/// A failure below the handlers.
#[derive(Debug)]
pub enum Error {
    /// The database failed (logged; the client sees a 500 without the cause).
    Store(StoreError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Store(error) => error.fmt(f),
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        Error::Store(error)
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::Store(error) => ApiError::internal(error),
        }
    }
}
