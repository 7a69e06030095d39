//! User-service domain types: parsed once at the edge, valid everywhere after; and the rules
//! that make an account an admin.

use auth::{Role, email_key, listed_as_admin};
use http_service::{ApiError, Fields, clean_text};
use serde::Serialize;
use serde_json::Value;

/// An email address in the grammar `openapi.yaml` states as a pattern (the HTML form grammar,
/// with at least one dot in the domain): ASCII only, so no look-alike or invisible character
/// can make one address pass for another. Spaces, tabs and line breaks around it are trimmed;
/// compared by [`email_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    normalized: String,
}

/// What may surround an email and is trimmed (exactly these, as the API document says).
const EMAIL_PADDING: [char; 4] = [' ', '\t', '\n', '\r'];

fn is_local_part_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c)
}

fn is_domain_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

impl Email {
    /// Longest address, in characters as sent.
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.chars().count() > Self::MAX_LEN {
            return Err("must be at most 254 characters");
        }
        let trimmed = raw.trim_matches(EMAIL_PADDING);
        let (local, domain) = trimmed
            .split_once('@')
            .ok_or("must be a valid email address")?;
        let labels: Vec<&str> = domain.split('.').collect();
        let valid = (1..=64).contains(&local.len())
            && local.chars().all(is_local_part_char)
            && labels.len() >= 2
            && labels.iter().all(|label| is_domain_label(label));
        if !valid {
            return Err("must be a valid email address");
        }
        Ok(Self {
            display: trimmed.to_string(),
            normalized: email_key(trimmed),
        })
    }

    /// As the user typed it (trimmed).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The key that makes emails unique regardless of case.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

/// A password of 8 to 128 characters. Never logged, never stored in clear.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match raw.chars().count() {
            n if n < Self::MIN_CHARS => Err("must be at least 8 characters"),
            n if n > Self::MAX_CHARS => Err("must be at most 128 characters"),
            _ => Ok(Self(raw.to_string())),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub const MAX_CHARS: usize = 100;

    /// A line of text of at most 100 characters as sent, with no invisible or control
    /// character, trimmed, not blank.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match clean_text(raw, Self::MAX_CHARS)? {
            Some(name) => Ok(Self(name)),
            None => Err("must not be empty".to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `POST /api/users/register`: `{email, password, name}`.
#[derive(Debug)]
pub struct Registration {
    pub email: Email,
    pub password: Password,
    pub name: Name,
}

impl Registration {
    /// Every missing or invalid field at once.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let email = fields.required_str("email");
        let password = fields.required_str("password");
        let name = fields.required_str("name");
        let email = fields.parsed("email", email, Email::parse);
        let password = fields.parsed("password", password, Password::parse);
        let name = fields.parsed("name", name, Name::parse);
        let (email, password, name) = fields.complete((email, password, name))?;
        Ok(Self {
            email,
            password,
            name,
        })
    }
}

/// `POST /api/users/login`: `{email, password}`, as sent (a malformed email is simply an
/// account that does not exist, and gets the same 401).
#[derive(Debug)]
pub struct Login {
    pub email: String,
    pub password: String,
}

impl Login {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let email = fields.required_str("email");
        let password = fields.required_str("password");
        let (email, password) = fields.complete((email, password))?;
        Ok(Self {
            email: email.to_string(),
            password: password.to_string(),
        })
    }
}

/// What the operator's bootstrap token says about making an account admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminClaim {
    /// The address is not in `admin_emails`: the account is a user, whatever was sent.
    NotListed,
    /// Listed, and the request carries the operator's token: an admin.
    Granted,
    /// Listed, without the token or with a wrong one (or no token is set at all).
    Refused,
    /// Listed, and no token was sent where none is required (a login): the account keeps
    /// what it has.
    Unclaimed,
}

/// Byte strings compared in time that depends only on their lengths.
fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len()
        && presented
            .iter()
            .zip(expected)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// Whether `email` becomes admin: only an address in `admin_emails`, and only with the
/// token the operator set (`expected`; unset means nobody). `required` says whether a
/// listed address must present it (registration) or may go without (login).
pub fn admin_claim(
    email: &str,
    admin_emails: &str,
    presented: Option<&str>,
    expected: Option<&str>,
    required: bool,
) -> AdminClaim {
    if !listed_as_admin(email, admin_emails) {
        return AdminClaim::NotListed;
    }
    match (presented, expected) {
        (None, _) if !required => AdminClaim::Unclaimed,
        (Some(presented), Some(expected))
            if same_secret(presented.trim().as_bytes(), expected.as_bytes()) =>
        {
            AdminClaim::Granted
        }
        _ => AdminClaim::Refused,
    }
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub name: String,
    /// Confirmed as admin with the operator's token (at registration or a login).
    pub admin_confirmed: bool,
    pub created_at: String,
}

impl Account {
    /// The role the rules give now: admin while confirmed and still in `admin_emails`.
    pub fn role(&self, admin_emails: &str) -> Role {
        if self.admin_confirmed && listed_as_admin(&self.email, admin_emails) {
            Role::Admin
        } else {
            Role::User
        }
    }

    /// The account as clients see it, with the role the rules give now.
    pub fn view(&self, admin_emails: &str) -> User {
        User {
            id: self.id.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            role: self.role(admin_emails),
            created_at: self.created_at.clone(),
        }
    }
}

/// A user as clients see it: never the password hash.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_compared_lower_case() {
        let email = Email::parse("  Ann.Lee@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "Ann.Lee@Example.COM");
        assert_eq!(email.normalized(), "ann.lee@example.com");
    }

    #[test]
    fn invalid_emails_are_rejected() {
        let long = format!("{}@example.com", "a".repeat(250));
        for raw in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@.com",
            "a@b.",
            "a@b..com",
            "a b@c.com",
            "a@b@c.com",
            "a@exa mple.com",
            long.as_str(),
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be invalid");
        }
    }

    #[test]
    fn password_length_is_counted_in_characters() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(
            Password::parse("ééééééé").is_err(),
            "7 characters even if 14 bytes"
        );
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-pass").expect("ok")),
            "Password(***)"
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  Ann  ").expect("valid").as_str(), "Ann");
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"n".repeat(100)).is_ok());
        assert!(Name::parse(&"n".repeat(101)).is_err());
        assert!(Name::parse("a\u{0}b").is_err());
    }

    #[test]
    fn look_alike_and_invisible_characters_are_refused_in_emails() {
        for raw in [
            "\u{212A}ate@example.com",
            "ａdmin@example.com",
            "ad\u{200B}min@example.com",
            "admin@exa\u{202E}mple.com",
            "\u{FEFF}admin@example.com",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be refused");
        }
        assert!(
            Email::parse("jürgen@exämple.de").is_err(),
            "addresses are ASCII, as the API document's pattern says"
        );
        assert!(Email::parse("o'neil+shop@mail.example-co.uk").is_ok());
    }

    #[test]
    fn only_a_listed_address_with_the_operators_token_becomes_admin() {
        let list = "owner@shop.test, admin@shop.test";
        let token = Some("5e0c8a1f9b3d7e2a6c4f8b0d1e3a5c7f9b2d4e6a8c0f1b3d5e7a9c2f4b6d8e0a");

        assert_eq!(
            admin_claim("OWNER@SHOP.TEST", list, token, token, true),
            AdminClaim::Granted
        );
        assert_eq!(
            admin_claim("owner@shop.test", list, None, token, true),
            AdminClaim::Refused
        );
        assert_eq!(
            admin_claim("owner@shop.test", list, Some("guess"), token, true),
            AdminClaim::Refused
        );
        assert_eq!(
            admin_claim("owner@shop.test", list, token, None, true),
            AdminClaim::Refused
        );
        assert_eq!(
            admin_claim("owner@shop.test", list, None, token, false),
            AdminClaim::Unclaimed
        );
        assert_eq!(
            admin_claim("ann@shop.test", list, token, token, true),
            AdminClaim::NotListed
        );
    }

    #[test]
    fn an_account_is_admin_while_confirmed_and_listed() {
        let account = Account {
            id: "u".into(),
            email: "Owner@Shop.test".into(),
            name: "O".into(),
            admin_confirmed: true,
            created_at: "t".into(),
        };
        assert_eq!(account.role("owner@shop.test"), Role::Admin);
        assert_eq!(account.role("someone@else.test"), Role::User);
        let unconfirmed = Account {
            admin_confirmed: false,
            ..account
        };
        assert_eq!(unconfirmed.role("owner@shop.test"), Role::User);
    }

    #[test]
    fn registrations_report_every_problem() {
        let error = Registration::parse(&serde_json::json!({"email": "x", "password": "short"}))
            .expect_err("invalid");
        let details = error.details.expect("details");
        assert_eq!(details["missingFields"], serde_json::json!(["name"]));
        assert!(details["invalidFields"]["email"].is_string());
        assert!(details["invalidFields"]["password"].is_string());
    }

    #[test]
    fn names_refuse_invisible_and_reordering_characters() {
        for raw in ["An\u{200D}n", "\u{202E}nnA", "A\u{2066}nn", "Ann\u{E0041}"] {
            assert!(Name::parse(raw).is_err(), "{raw:?} should be refused");
        }
        assert!(Name::parse("José Ñúñez").is_ok());
    }
}
