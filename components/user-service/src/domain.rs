//! User-service domain types: parsed once at the edge, valid everywhere after.

use auth::email_key;
use response_handler::clean_text;
use serde::Serialize;

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

/// A user as clients see it: never the password hash.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
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
    fn names_refuse_invisible_and_reordering_characters() {
        for raw in ["An\u{200D}n", "\u{202E}nnA", "A\u{2066}nn", "Ann\u{E0041}"] {
            assert!(Name::parse(raw).is_err(), "{raw:?} should be refused");
        }
        assert!(Name::parse("José Ñúñez").is_ok());
    }
}
