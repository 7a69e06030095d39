//! The caller's identity, from the verified bearer token (never from headers a client could set).

use auth::TokenKeys;
pub use auth::{Identity, Role};

use crate::context::variable;
use crate::{ApiError, RequestContext};

/// The signing keys from the `jwt_secret` variable; a missing or weak secret is a deployment
/// error (500, logged), never a fallback.
pub fn token_keys() -> Result<TokenKeys, ApiError> {
    let secret =
        variable("jwt_secret").ok_or_else(|| ApiError::internal("jwt_secret is not set"))?;
    TokenKeys::from_secret(&secret).map_err(ApiError::internal)
}

impl RequestContext {
    /// The verified caller, or 401.
    pub fn identity(&self) -> Result<Identity, ApiError> {
        let keys = token_keys()?;
        keys.verify_header(self.header("authorization"))
            .map_err(|error| {
                let message = match error {
                    auth::TokenError::Missing => "Authentication token required",
                    _ => "Invalid or expired token",
                };
                ApiError::unauthorized(message).with_cause(error)
            })
    }

    /// The verified caller if an admin; 401 without a valid token, 403 otherwise.
    pub fn admin(&self) -> Result<Identity, ApiError> {
        let identity = self.identity()?;
        if identity.is_admin() {
            Ok(identity)
        } else {
            Err(ApiError::forbidden("Admin role required"))
        }
    }
}
