//! What makes a secret usable. A secret that fails these checks signs tokens anyone could
//! forge: one too short to resist a brute-force search, one with so few distinct bytes that
//! it is a pattern (`aaaa…`, `0101…`), the placeholder text of one of the project's own
//! example files (copied without being filled in), or the same value as another secret (a
//! user token would then also pass as a service token).
//!
//! The runner refuses such a secret at start-up, naming the variable; a component, which
//! reads its variables per request under Spin, answers 503 instead of signing or checking
//! anything with it. Both use [`check`]; the runner also checks that no two secrets are
//! equal with [`check_distinct`] (a component compares the two it reads itself).

/// Shortest accepted secret, in bytes (HS256 wants at least its 32-byte output size).
pub const MIN_BYTES: usize = 32;
/// Fewest distinct byte values a secret may have. `openssl rand -hex 32` gives 64 characters
/// from 16 possible values; one that has fewer than 8 of them happens by chance once in far
/// more than 10^30 tries.
pub const MIN_DISTINCT_BYTES: usize = 8;

/// Placeholder texts that the project's example files have shipped (they ship empty values
/// now), refused wherever a copy of an old example is deployed.
const PLACEHOLDERS: &[&str] = &[
    "replace-with-openssl-rand-hex-32",
    "replace-with-another-openssl-rand-hex-32",
    "replace-with-a-database-token",
    "change-me",
    "changeme",
];

/// Why a secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretProblem {
    /// Unset or empty.
    Missing,
    TooShort {
        bytes: usize,
    },
    TooFewDistinctBytes {
        distinct: usize,
    },
    /// The text of an example file, or a variation of it.
    Placeholder,
    /// Equal to the secret named.
    SameAs(String),
}

impl std::fmt::Display for SecretProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => f.write_str("it is not set"),
            Self::TooShort { bytes } => {
                write!(
                    f,
                    "it is {bytes} bytes long; at least {MIN_BYTES} are needed"
                )
            }
            Self::TooFewDistinctBytes { distinct } => write!(
                f,
                "it has only {distinct} distinct bytes; at least {MIN_DISTINCT_BYTES} are needed \
                 (use `openssl rand -hex 32`)"
            ),
            Self::Placeholder => f.write_str("it is the placeholder of an example file"),
            Self::SameAs(other) => write!(f, "it is the same as `{other}`"),
        }
    }
}

/// Checks one secret on its own.
pub fn check(secret: &str) -> Result<(), SecretProblem> {
    if secret.is_empty() {
        return Err(SecretProblem::Missing);
    }
    let lowered = secret.trim().to_ascii_lowercase();
    if PLACEHOLDERS.contains(&lowered.as_str()) || lowered.starts_with("replace-with") {
        return Err(SecretProblem::Placeholder);
    }
    if secret.len() < MIN_BYTES {
        return Err(SecretProblem::TooShort {
            bytes: secret.len(),
        });
    }
    let mut seen = [false; 256];
    for byte in secret.bytes() {
        seen[usize::from(byte)] = true;
    }
    let distinct = seen.iter().filter(|present| **present).count();
    if distinct < MIN_DISTINCT_BYTES {
        return Err(SecretProblem::TooFewDistinctBytes { distinct });
    }
    Ok(())
}

/// Checks every named secret on its own and against each other: the first problem found, with
/// the name of the secret it concerns.
pub fn check_distinct<'a>(
    secrets: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), (String, SecretProblem)> {
    let secrets: Vec<(&str, &str)> = secrets.into_iter().collect();
    for (index, (name, value)) in secrets.iter().enumerate() {
        check(value).map_err(|problem| (name.to_string(), problem))?;
        if let Some((earlier, _)) = secrets[..index].iter().find(|(_, other)| other == value) {
            return Err((name.to_string(), SecretProblem::SameAs(earlier.to_string())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "8f3c2a9e71b04d6f5a2e9c1b7d3f08a6e4c2b9d1f7a3e5c0b8d6f2a4c9e1b7d3";

    #[test]
    fn random_hex_secrets_pass() {
        assert_eq!(check(GOOD), Ok(()));
    }

    #[test]
    fn ten_thousand_secrets_made_like_openssl_rand_hex_32_all_pass() {
        // A xorshift stream stands in for /dev/urandom: the property is about the alphabet
        // and length of `openssl rand -hex 32`, not about the quality of the randomness.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..10_000 {
            let secret: String = (0..32)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    format!("{:02x}", state as u8)
                })
                .collect();
            assert_eq!(check(&secret), Ok(()), "{secret}");
        }
    }

    #[test]
    fn short_secrets_are_refused_with_their_length() {
        assert_eq!(
            check(&GOOD[..31]),
            Err(SecretProblem::TooShort { bytes: 31 })
        );
        assert_eq!(check(&GOOD[..32]), Ok(()));
        assert_eq!(check(""), Err(SecretProblem::Missing));
    }

    #[test]
    fn patterns_with_few_distinct_bytes_are_refused() {
        assert_eq!(
            check(&"a".repeat(64)),
            Err(SecretProblem::TooFewDistinctBytes { distinct: 1 })
        );
        assert_eq!(
            check(&"0123456".repeat(6)),
            Err(SecretProblem::TooFewDistinctBytes { distinct: 7 })
        );
        assert_eq!(check(&"01234567".repeat(4)), Ok(()));
    }

    #[test]
    fn placeholders_of_example_files_are_refused_in_any_case() {
        for placeholder in [
            "replace-with-openssl-rand-hex-32",
            "REPLACE-WITH-ANOTHER-OPENSSL-RAND-HEX-32",
            "replace-with-something-of-your-own-that-is-long",
        ] {
            assert_eq!(
                check(placeholder),
                Err(SecretProblem::Placeholder),
                "{placeholder}"
            );
        }
    }

    #[test]
    fn two_secrets_may_not_be_equal_and_each_is_checked() {
        let other = "1b7d3f08a6e4c2b9d1f7a3e5c0b8d6f2a4c9e1b7d38f3c2a9e71b04d6f5a2e9c";

        assert_eq!(
            check_distinct([("jwt_secret", GOOD), ("service_token_secret", other)]),
            Ok(())
        );
        assert_eq!(
            check_distinct([("jwt_secret", GOOD), ("service_token_secret", GOOD)]),
            Err((
                "service_token_secret".to_string(),
                SecretProblem::SameAs("jwt_secret".into())
            ))
        );
        assert_eq!(
            check_distinct([("jwt_secret", GOOD), ("service_token_secret", "short")]),
            Err((
                "service_token_secret".to_string(),
                SecretProblem::TooShort { bytes: 5 }
            ))
        );
    }
}
