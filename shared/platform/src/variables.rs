//! Spin variables, each read from the host at most once per request: under Spin a read is a
//! host call (with template resolution behind it), and a request used to read the same ones
//! a dozen times. Names are in [`names`], once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// The variables the components read.
pub mod names {
    pub const JWT_SECRET: &str = "jwt_secret";
    pub const SERVICE_TOKEN_SECRET: &str = "service_token_secret";
    pub const ADMIN_BOOTSTRAP_TOKEN: &str = "admin_bootstrap_token";
    pub const ADMIN_EMAILS: &str = "admin_emails";
    pub const ENVIRONMENT: &str = "environment";
    pub const LOG_LEVEL: &str = "log_level";
    pub const RATE_LIMIT_PER_MINUTE: &str = "rate_limit_per_minute";
    pub const RATE_LIMIT_PER_USER_PER_MINUTE: &str = "rate_limit_per_user_per_minute";
    pub const MAX_BODY_BYTES: &str = "max_body_bytes";
    pub const UPSTREAM_TIMEOUT_MS: &str = "upstream_timeout_ms";
    pub const CORS_ALLOWED_ORIGINS: &str = "cors_allowed_origins";
    pub const NOTIFICATION_WEBHOOK_URL: &str = "notification_webhook_url";
    pub const OUTBOX_MAX_ATTEMPTS: &str = "outbox_max_attempts";
    pub const OUTBOX_RETRY_BASE_MS: &str = "outbox_retry_base_ms";
    pub const RETENTION_DAYS: &str = "retention_days";
    pub const SESSION_MAX_HOURS: &str = "session_max_hours";
    pub const ORDER_HOLD_MINUTES: &str = "order_hold_minutes";
    pub const HEALTH_CACHE_MS: &str = "health_cache_ms";

    /// The secrets: each must pass `secrets::check`, and no two may be equal.
    pub const SECRETS: [&str; 3] = [JWT_SECRET, SERVICE_TOKEN_SECRET, ADMIN_BOOTSTRAP_TOKEN];
}

/// A secret that may not be used, with the variable it is in. The component answers 503 and
/// logs the name; it never signs or checks anything with such a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableSecret {
    pub variable: &'static str,
    pub problem: secrets::SecretProblem,
}

impl std::fmt::Display for UnusableSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "secret variable `{}` cannot be used: {}",
            self.variable, self.problem
        )
    }
}

impl std::error::Error for UnusableSecret {}

type Source = Box<dyn Fn(&str) -> Option<String>>;

/// The variables of this component for one request (or one piece of background work).
pub struct Variables {
    source: Source,
    read: RefCell<HashMap<&'static str, Option<Rc<str>>>>,
}

impl std::fmt::Debug for Variables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variables")
            .field("read", &self.read.borrow().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Variables {
    /// This component's Spin variables.
    pub fn from_spin() -> Self {
        Self::with_source(|name| spin_sdk::variables::get(name).ok())
    }

    /// Variables from any source (tests).
    pub fn with_source(source: impl Fn(&str) -> Option<String> + 'static) -> Self {
        Self {
            source: Box::new(source),
            read: RefCell::default(),
        }
    }

    /// Fixed values (tests).
    pub fn fixed(values: &[(&str, &str)]) -> Self {
        let values: HashMap<String, String> = values
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        Self::with_source(move |name| values.get(name).cloned())
    }

    /// The value of `name`; `None` when it is undefined or blank.
    pub fn text(&self, name: &'static str) -> Option<Rc<str>> {
        if let Some(known) = self.read.borrow().get(name) {
            return known.clone();
        }
        let value: Option<Rc<str>> = (self.source)(name)
            .filter(|value| !value.trim().is_empty())
            .map(Rc::from);
        self.read.borrow_mut().insert(name, value.clone());
        value
    }

    /// `name` as a whole number; `None` when undefined, blank or not a number (a setting
    /// with a default falls back to it rather than failing requests).
    pub fn u64(&self, name: &'static str) -> Option<u64> {
        self.text(name).and_then(|value| value.trim().parse().ok())
    }

    /// `name` as a whole number, or `default`.
    pub fn u64_or(&self, name: &'static str, default: u64) -> u64 {
        self.u64(name).unwrap_or(default)
    }

    /// A secret, checked: long and varied enough, no example placeholder, and different from
    /// every other secret this component can read.
    pub fn secret(&self, name: &'static str) -> Result<Rc<str>, UnusableSecret> {
        let unusable = |problem| UnusableSecret {
            variable: name,
            problem,
        };
        let value = self
            .text(name)
            .ok_or_else(|| unusable(secrets::SecretProblem::Missing))?;
        secrets::check(&value).map_err(unusable)?;
        for other in names::SECRETS.into_iter().filter(|other| *other != name) {
            if self.text(other).as_deref() == Some(&*value) {
                return Err(unusable(secrets::SecretProblem::SameAs(other.to_string())));
            }
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const STRONG: &str = "5e0c8a1f9b3d7e2a6c4f8b0d1e3a5c7f9b2d4e6a8c0f1b3d5e7a9c2f4b6d8e0a";

    #[test]
    fn each_variable_is_read_from_the_host_once() {
        let reads = Rc::new(Cell::new(0));
        let counted = reads.clone();
        let variables = Variables::with_source(move |name| {
            counted.set(counted.get() + 1);
            (name == "log_level").then(|| "debug".to_string())
        });

        assert_eq!(variables.text(names::LOG_LEVEL).as_deref(), Some("debug"));
        assert_eq!(variables.text(names::LOG_LEVEL).as_deref(), Some("debug"));
        assert_eq!(variables.text(names::ENVIRONMENT), None);
        assert_eq!(variables.text(names::ENVIRONMENT), None);

        assert_eq!(reads.get(), 2);
    }

    #[test]
    fn blank_and_unparsable_numbers_fall_back() {
        let variables = Variables::fixed(&[("max_body_bytes", " 12 "), ("log_level", "  ")]);
        assert_eq!(variables.u64(names::MAX_BODY_BYTES), Some(12));
        assert_eq!(variables.text(names::LOG_LEVEL), None);
        assert_eq!(variables.u64_or(names::UPSTREAM_TIMEOUT_MS, 5000), 5000);
    }

    #[test]
    fn secrets_are_checked_and_must_differ_from_each_other() {
        let good = Variables::fixed(&[("jwt_secret", STRONG)]);
        assert_eq!(good.secret(names::JWT_SECRET).as_deref(), Ok(STRONG));

        let shared = Variables::fixed(&[("jwt_secret", STRONG), ("service_token_secret", STRONG)]);
        let error = shared
            .secret(names::JWT_SECRET)
            .expect_err("same as the other");
        assert_eq!(error.variable, "jwt_secret");
        assert!(matches!(error.problem, secrets::SecretProblem::SameAs(_)));

        let placeholder = Variables::fixed(&[("jwt_secret", "replace-with-openssl-rand-hex-32")]);
        assert!(placeholder.secret(names::JWT_SECRET).is_err());
        let unset = Variables::fixed(&[]);
        assert_eq!(
            unset
                .secret(names::SERVICE_TOKEN_SECRET)
                .map_err(|e| e.problem),
            Err(secrets::SecretProblem::Missing)
        );
    }
}
