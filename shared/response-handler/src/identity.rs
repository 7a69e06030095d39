//! The caller's identity, from the verified bearer token (never from headers a client could set),
//! and the calling service of a service-to-service request, from its signed service token.

pub use auth::{Identity, Role};
use auth::{ServiceKeys, TokenKeys};

use crate::context::variable;
use crate::{ApiError, RequestContext};

/// The signing keys from the `jwt_secret` variable; a missing or weak secret is a deployment
/// error (500, logged), never a fallback.
pub fn token_keys() -> Result<TokenKeys, ApiError> {
    let secret =
        variable("jwt_secret").ok_or_else(|| ApiError::internal("jwt_secret is not set"))?;
    TokenKeys::from_secret(&secret).map_err(ApiError::internal)
}

/// The header that carries a service-to-service token.
pub const SERVICE_TOKEN_HEADER: &str = "x-service-token";

/// The key for service-to-service tokens, from the `service_token_secret` variable; like
/// `jwt_secret`, a missing or weak secret is a deployment error.
pub fn service_keys() -> Result<ServiceKeys, ApiError> {
    let secret = variable("service_token_secret")
        .ok_or_else(|| ApiError::internal("service_token_secret is not set"))?;
    ServiceKeys::from_secret(&secret)
        .map_err(|error| ApiError::internal(format!("service_token_secret: {error}")))
}

impl RequestContext {
    /// The service that sent this request, if it is one of `allowed` and its token is valid
    /// and addressed to this service; 401 otherwise. Private endpoints start with this.
    pub fn calling_service(&self, allowed: &[&str]) -> Result<String, ApiError> {
        let refused = || ApiError::unauthorized("Service credentials required");
        let token = self.header(SERVICE_TOKEN_HEADER).ok_or_else(refused)?;
        let caller = service_keys()?
            .verify(token, self.config.name)
            .map_err(|error| refused().with_cause(error))?;
        if !allowed.contains(&caller.as_str()) {
            return Err(refused().with_cause(format!("{caller} may not call this endpoint")));
        }
        Ok(caller)
    }

    /// The verified caller, or 401. An admin role counts only while `admin_emails` still
    /// lists the caller (see [`Identity::with_role_still_granted`]).
    pub fn identity(&self) -> Result<Identity, ApiError> {
        let keys = token_keys()?;
        keys.verify_header(self.header("authorization"))
            .map(|identity| {
                identity.with_role_still_granted(|| variable("admin_emails").unwrap_or_default())
            })
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
