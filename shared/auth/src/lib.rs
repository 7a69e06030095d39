//! Storefront identity, shared by the gateway (which verifies every token locally) and the
//! user service (which issues them).
//!
//! Tokens are HS256 JWTs carrying the contract's claims (`sub`, `email`, `name`, `role`,
//! `iat`, `exp`, `iss`), signed with the `jwt_secret` Spin variable. There is no default
//! secret anywhere: a [`TokenKeys`] can only be made from a secret the caller supplies, and an
//! empty or short one is refused. Passwords are hashed with argon2id into PHC strings.
//!
//! Calls between services carry a second kind of token ([`ServiceKeys`]): short-lived, naming
//! the calling service (`iss`) and the one called (`aud`), signed with a separate secret
//! (`service_token_secret`), so a service's private endpoints answer only its peers even when
//! it is deployed on its own, and a user's token never opens them.
//!
//! Who is an admin is the deployment's `admin_emails` list. A token records the role it was
//! issued with, but [`Identity::with_role_still_granted`] drops an admin role the list no
//! longer grants, so removing an address takes effect at the next request, not when the
//! token expires.
//!
//! A token also carries its [`Session`]: the user's session generation when it was issued
//! (logging out raises the generation, and every component refuses tokens of an older one)
//! and when the session began (a refresh keeps it, so a session cannot be stretched past
//! `session_max_hours` by refreshing).

use std::collections::HashSet;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jwt_simple::prelude::*;
use unicode_normalization::UnicodeNormalization;

/// The `iss` claim of every token this system issues.
pub const ISSUER: &str = "storefront-user-service";
/// How long a token is valid.
pub const TOKEN_LIFETIME_HOURS: u64 = 24;
/// Shortest accepted `jwt_secret`, in bytes (HS256 wants at least its 32-byte output size).
pub const MIN_SECRET_BYTES: usize = 32;

/// The key two emails are compared by: compatibility-normalised (NFKC) and lower-cased, so
/// `ADMIN@EXAMPLE.COM` and `admin@example.com` are one address.
pub fn email_key(text: &str) -> String {
    text.trim().to_lowercase().nfkc().collect()
}

/// Whether `email` is one of the comma-separated `admin_emails` (compared by [`email_key`]).
pub fn listed_as_admin(email: &str, admin_emails: &str) -> bool {
    let key = email_key(email);
    !key.is_empty()
        && admin_emails
            .split(',')
            .map(email_key)
            .any(|entry| entry == key)
}

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

/// The session a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Session {
    /// The user's session generation when the token was issued; a logout raises it.
    pub generation: u64,
    /// When the session began (the login), seconds since the Unix epoch.
    pub started_at: u64,
}

impl Session {
    /// A session beginning now, in `generation`.
    pub fn starting_now(generation: u64) -> Self {
        Self {
            generation,
            started_at: Clock::now_since_epoch().as_secs(),
        }
    }

    /// Whether the session began more than `max_hours` ago, as of `now` (seconds).
    pub fn older_than_hours(&self, max_hours: u64, now: u64) -> bool {
        now.saturating_sub(self.started_at) > max_hours.saturating_mul(3600)
    }
}

/// The custom claims; `sub`, `iat`, `exp` and `iss` are the standard ones. Tokens issued
/// before sessions existed have neither `sgen` (generation 0) nor `sat` (their `iat`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct ProfileClaims {
    email: String,
    name: String,
    role: Role,
    #[serde(default)]
    sgen: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sat: Option<u64>,
}

/// The verified identity of a caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: u64,
    pub session: Session,
}

impl Identity {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// This identity, demoted to `user` if it claims `admin` but `admin_emails` (the current
    /// list, read only for admin tokens) no longer includes its email. A role is never raised
    /// here: a newly listed address becomes admin with its next token (login or refresh).
    #[must_use]
    pub fn with_role_still_granted(self, admin_emails: impl FnOnce() -> String) -> Self {
        if self.is_admin() && !listed_as_admin(&self.email, &admin_emails()) {
            Self {
                role: Role::User,
                ..self
            }
        } else {
            self
        }
    }

    /// Whether the caller may act on a resource owned by `owner_id`.
    pub fn owns_or_admin(&self, owner_id: &str) -> bool {
        self.is_admin() || self.user_id == owner_id
    }
}

/// Why a token was refused. All of them are a 401 to the client; the variants are for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    Missing,
    Malformed,
    Invalid(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Missing => f.write_str("no bearer token"),
            TokenError::Malformed => f.write_str("authorization header is not `Bearer <token>`"),
            TokenError::Invalid(reason) => write!(f, "token rejected: {reason}"),
        }
    }
}

/// A token the JWT library refused (bad signature, expired, wrong audience, ...).
impl From<jwt_simple::Error> for TokenError {
    fn from(error: jwt_simple::Error) -> Self {
        TokenError::Invalid(error.to_string())
    }
}

/// How far the clocks of the signer and the verifier may disagree.
const CLOCK_SKEW: Duration = Duration::from_secs(5);

/// Why a secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakSecret;

impl std::fmt::Display for WeakSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the secret must be at least {MIN_SECRET_BYTES} bytes")
    }
}

fn hs256_key(secret: &str) -> Result<HS256Key, WeakSecret> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(WeakSecret);
    }
    Ok(HS256Key::from_bytes(secret.as_bytes()))
}

/// How long a service-to-service token is valid: one call, with room for clock skew.
pub const SERVICE_TOKEN_LIFETIME_SECONDS: u64 = 60;

/// The key that signs calls between services, made from `service_token_secret`.
pub struct ServiceKeys {
    key: HS256Key,
}

impl ServiceKeys {
    pub fn from_secret(secret: &str) -> Result<Self, WeakSecret> {
        Ok(Self {
            key: hs256_key(secret)?,
        })
    }

    /// A token for one call from the service `caller` to the service `target`.
    pub fn issue(&self, caller: &str, target: &str) -> Result<String, TokenError> {
        let claims = Claims::create(Duration::from_secs(SERVICE_TOKEN_LIFETIME_SECONDS))
            .with_issuer(caller)
            .with_audience(target);
        Ok(self.key.authenticate(claims)?)
    }

    /// The calling service named by `token`, if it is valid and addressed to `target`.
    pub fn verify(&self, token: &str, target: &str) -> Result<String, TokenError> {
        let options = VerificationOptions {
            allowed_audiences: Some(HashSet::from([target.to_string()])),
            time_tolerance: Some(CLOCK_SKEW),
            ..Default::default()
        };
        let claims = self
            .key
            .verify_token::<NoCustomClaims>(token, Some(options))?;
        claims
            .issuer
            .filter(|caller| !caller.is_empty())
            .ok_or_else(|| TokenError::Invalid("no calling service".into()))
    }
}

/// The signing key, made from the deployment's `jwt_secret`.
pub struct TokenKeys {
    key: HS256Key,
}

impl TokenKeys {
    pub fn from_secret(secret: &str) -> Result<Self, WeakSecret> {
        Ok(Self {
            key: hs256_key(secret)?,
        })
    }

    /// Issues a token valid for [`TOKEN_LIFETIME_HOURS`], in a session of generation 0
    /// beginning now.
    pub fn issue(
        &self,
        user_id: &str,
        email: &str,
        name: &str,
        role: Role,
    ) -> Result<String, TokenError> {
        self.issue_in_session(user_id, email, name, role, Session::starting_now(0))
    }

    /// Issues a token valid for [`TOKEN_LIFETIME_HOURS`] in `session`.
    pub fn issue_in_session(
        &self,
        user_id: &str,
        email: &str,
        name: &str,
        role: Role,
        session: Session,
    ) -> Result<String, TokenError> {
        let claims = Claims::with_custom_claims(
            ProfileClaims {
                email: email.to_string(),
                name: name.to_string(),
                role,
                sgen: session.generation,
                sat: Some(session.started_at),
            },
            Duration::from_hours(TOKEN_LIFETIME_HOURS),
        )
        .with_subject(user_id)
        .with_issuer(ISSUER);
        Ok(self.key.authenticate(claims)?)
    }

    /// Verifies signature, algorithm (HS256 only), issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from([ISSUER.to_string()])),
            time_tolerance: Some(CLOCK_SKEW),
            ..Default::default()
        };
        let claims = self
            .key
            .verify_token::<ProfileClaims>(token, Some(options))?;
        let user_id = claims
            .subject
            .filter(|s| !s.is_empty())
            .ok_or_else(|| TokenError::Invalid("no subject".into()))?;
        let expires_at = claims
            .expires_at
            .ok_or_else(|| TokenError::Invalid("no expiry".into()))?
            .as_secs();
        let issued_at = claims.issued_at.map_or(0, |at| at.as_secs());
        Ok(Identity {
            user_id,
            email: claims.custom.email,
            name: claims.custom.name,
            role: claims.custom.role,
            expires_at,
            session: Session {
                generation: claims.custom.sgen,
                started_at: claims.custom.sat.unwrap_or(issued_at),
            },
        })
    }

    /// Verifies the token of an `Authorization: Bearer <token>` header value.
    pub fn verify_header(&self, authorization: Option<&str>) -> Result<Identity, TokenError> {
        let header = authorization.ok_or(TokenError::Missing)?;
        let token = bearer_token(header).ok_or(TokenError::Malformed)?;
        self.verify(token)
    }
}

/// The token of a `Bearer` authorization header (scheme case-insensitive).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

/// Why a password operation failed (randomness or hashing failure; never the password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashError(pub String);

/// argon2id cost: 7 MiB, 5 passes, 1 lane. OWASP lists this as equal in strength to the
/// crate default (19 MiB, 2 passes); it trades memory for passes, which matters here because
/// every concurrent login holds that memory inside its own Wasm instance.
pub const HASH_MEMORY_KIB: u32 = 7 * 1024;
pub const HASH_PASSES: u32 = 5;

fn new_hasher() -> Result<Argon2<'static>, HashError> {
    let params = argon2::Params::new(HASH_MEMORY_KIB, HASH_PASSES, 1, None)
        .map_err(|error| HashError(error.to_string()))?;
    Ok(Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
    ))
}

/// Hashes a password with argon2id and a fresh random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|error| HashError(error.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|error| HashError(error.to_string()))?;
    new_hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| HashError(error.to_string()))
}

/// Checks a password against a PHC string, with the cost the string records (so hashes made
/// with earlier settings keep working); a malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A valid argon2id hash of a random password, to verify against when an email is unknown so
/// that a login for an unknown email costs about as much as one with a wrong password.
pub fn decoy_hash() -> &'static str {
    "$argon2id$v=19$m=7168,t=5,p=1$R7gdY+FWyw0dFVktrfUCpQ$WsVd/8ZVbHRngc+5fwXFB5fxLc87H0bk/Dx6TFXcFIQ"
}

#[cfg(test)]
mod tests;
