//! The caller's identity, from the verified bearer token (never from headers a client could
//! set), checked against the admin list and the user's session generation; and the calling
//! service of a service-to-service request, from its signed service token.

use auth::{Identity, ServiceKeys, TokenError, TokenKeys};
use platform::Service;
use platform::variables::names::{ADMIN_EMAILS, JWT_SECRET, SERVICE_TOKEN_SECRET};
use service_client::SERVICE_TOKEN_HEADER;

use crate::{ApiError, RequestContext};

impl RequestContext {
    /// The keys of users' tokens, from `jwt_secret`: an unusable secret (missing, weak, a
    /// placeholder, shared with another secret) is a 503, never a fallback.
    pub fn token_keys(&self) -> Result<TokenKeys, ApiError> {
        let secret = self.variables().secret(JWT_SECRET)?;
        TokenKeys::from_secret(&secret).map_err(ApiError::internal)
    }

    /// The key of service tokens, from `service_token_secret` (checked like `jwt_secret`).
    pub fn service_keys(&self) -> Result<ServiceKeys, ApiError> {
        let secret = self.variables().secret(SERVICE_TOKEN_SECRET)?;
        ServiceKeys::from_secret(&secret).map_err(ApiError::internal)
    }

    /// The verified caller, or 401. An admin role counts only while `admin_emails` still
    /// lists the caller; a token from before the user's last logout is refused.
    pub fn identity(&self) -> Result<auth::Identity, ApiError> {
        self.identity.get_or_init(|| self.verify_identity()).clone()
    }

    fn verify_identity(&self) -> Result<Identity, ApiError> {
        let keys = self.token_keys()?;
        let identity = keys
            .verify_header(self.header("authorization"))
            .map_err(|error| {
                let message = match error {
                    TokenError::Missing => "Authentication token required",
                    _ => "Invalid or expired token",
                };
                ApiError::unauthorized(message).with_cause(error)
            })?;
        let current = edge::session_generation(self.edge_db()?, &identity.user_id)?;
        if identity.session.generation < current {
            return Err(ApiError::unauthorized("Invalid or expired token")
                .with_cause("the session of this token ended (logout)"));
        }
        Ok(identity.with_role_still_granted(|| {
            self.variables()
                .text(ADMIN_EMAILS)
                .map(|list| list.to_string())
                .unwrap_or_default()
        }))
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

    /// The service that sent this request, if it is one of `allowed` and its token is valid
    /// and addressed to this service; 401 otherwise. Every endpoint meant for other services
    /// starts with this, in every layout (in split apps they are public).
    pub fn calling_service(&self, allowed: &[Service]) -> Result<Service, ApiError> {
        let refused = || ApiError::unauthorized("Service credentials required");
        let caller = self.signed_caller()?.ok_or_else(refused)?;
        if !allowed.contains(&caller) {
            return Err(refused().with_cause(format!("{caller} may not call this endpoint")));
        }
        Ok(caller)
    }

    /// The service whose valid token this request carries, if any (verified once per request).
    pub(crate) fn signed_caller(&self) -> Result<Option<Service>, ApiError> {
        self.signed_caller
            .get_or_init(|| self.verify_signed_caller())
            .clone()
    }

    fn verify_signed_caller(&self) -> Result<Option<Service>, ApiError> {
        let Some(token) = self.header(SERVICE_TOKEN_HEADER) else {
            return Ok(None);
        };
        match self.service_keys()?.verify(token, self.spec().name()) {
            Ok(caller) => Ok(Service::from_id(&caller)),
            Err(error) => {
                self.logger().warn(
                    "refused a service token",
                    serde_json::json!({ "cause": error.to_string() }),
                );
                Ok(None)
            }
        }
    }
}
