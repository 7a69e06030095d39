//! Money for the storefront: integer cents inside, exact decimal text at the edges.
//!
//! Amounts are parsed from the exact text of a JSON number (`"19.99"`), never through
//! floating-point arithmetic, and sums are integer additions that cannot overflow silently.

/// A positive amount of money in cents. Parsed from the exact decimal text of a JSON
/// number, never through floating point arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cents(i64);

impl Cents {
    /// The largest price accepted: 99,999,999.99.
    pub const MAX: i64 = 9_999_999_999;

    /// `"19.99"` -> 1999; at most two decimals, no sign, no exponent, no surrounding space.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (text.contains('.') && !digits(fraction)) {
            return Err("must be a number with at most 2 decimals");
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > 2 {
            return Err("must have at most 2 decimals");
        }
        if whole.len() > 12 {
            return Err("is too large");
        }
        let whole: i64 = whole.parse().map_err(|_| "is too large")?;
        let fraction: i64 = format!("{fraction:0<2}")
            .parse()
            .map_err(|_| "must be a number")?;
        let cents = whole * 100 + fraction;
        if cents > Self::MAX {
            return Err("is too large");
        }
        Ok(Self(cents))
    }

    pub fn from_cents(cents: i64) -> Self {
        Self(cents)
    }

    /// `self * quantity`, or `None` on overflow.
    pub fn times(self, quantity: i64) -> Option<Self> {
        self.0.checked_mul(quantity).map(Self)
    }

    /// `self + other`, or `None` on overflow.
    pub fn plus(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    /// The JSON number for this amount: the double nearest to the exact decimal, which JSON
    /// writers print with at most two decimals.
    pub fn to_json_number(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_parses_exactly_into_cents() {
        for (text, cents) in [
            ("19.99", 1999),
            ("0.01", 1),
            ("5", 500),
            ("5.5", 550),
            ("5.50", 550),
            ("1.10", 110),
            ("99999999.99", 9_999_999_999),
        ] {
            assert_eq!(Cents::parse(text).map(Cents::cents), Ok(cents), "{text}");
        }
    }

    #[test]
    fn money_rejects_more_than_two_decimals_signs_exponents_and_huge_values() {
        for text in [
            "1.999",
            "-1",
            "1e3",
            "",
            ".5",
            "5.",
            "abc",
            "100000000",
            "1.2.3",
            "0x10",
            "19.999999999999999",
            "1e2",
            "1E2",
            " 5",
            "5 ",
        ] {
            assert!(Cents::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn money_renders_with_two_decimals_at_most() {
        let json = serde_json::to_string(&Cents::from_cents(1999).to_json_number()).expect("json");
        assert_eq!(json, "19.99");
        let json = serde_json::to_string(&Cents::from_cents(10).to_json_number()).expect("json");
        assert_eq!(json, "0.1");
        let sum = Cents::from_cents(1999 * 3);
        assert_eq!(
            serde_json::to_string(&sum.to_json_number()).expect("json"),
            "59.97"
        );
    }

    #[test]
    fn arithmetic_is_exact_and_checked() {
        let price = Cents::parse("0.10").expect("valid");
        let total = price
            .times(3)
            .and_then(|t| t.plus(Cents::parse("0.20").expect("valid")));
        assert_eq!(total.map(Cents::cents), Some(50));
        assert_eq!(Cents::from_cents(i64::MAX).times(2), None);
    }
}
