//! Product-service domain: money in integer cents, quantities, search terms, the product view.

use response_handler::clean_text;
use serde::Serialize;

pub use money::Cents;

/// A stock change: a whole number of units, 1 to 1,000,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i64);

impl Quantity {
    pub const MAX: i64 = 1_000_000_000;

    pub fn parse(value: i64) -> Result<Self, &'static str> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err("must be an integer from 1 to 1000000000")
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// Initial stock of a new product: 0 to 1,000,000,000.
pub fn parse_initial_stock(value: i64) -> Result<i64, &'static str> {
    if (0..=Quantity::MAX).contains(&value) {
        Ok(value)
    } else {
        Err("must be an integer from 0 to 1000000000")
    }
}

/// Which way a stock change goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockOperation {
    Increase,
    Decrease,
}

impl StockOperation {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match raw {
            "increase" => Ok(Self::Increase),
            "decrease" => Ok(Self::Decrease),
            _ => Err("must be \"increase\" or \"decrease\""),
        }
    }
}

/// A line of text of at most `max_chars` characters as sent, with no invisible or control
/// character, trimmed, not blank (names and categories).
pub fn bounded_text(raw: &str, max_chars: usize) -> Result<String, String> {
    clean_text(raw, max_chars)?.ok_or_else(|| "must not be empty".to_string())
}

/// Turns free text into an FTS5 query: each word a quoted prefix term, all required.
/// FTS5 syntax in the input (quotes, operators, column filters) has no effect.
pub fn fts_query(search: &str) -> Option<String> {
    let terms: Vec<String> = search
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(16)
        .map(|word| format!("\"{}\"*", word.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// A product as clients see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: String,
    pub name: String,
    pub description: String,
    pub price: f64,
    pub category: String,
    pub stock: i64,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_stock_are_bounded() {
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(-5).is_err());
        assert_eq!(Quantity::parse(1).map(Quantity::get), Ok(1));
        assert!(Quantity::parse(Quantity::MAX + 1).is_err());
        assert_eq!(parse_initial_stock(0), Ok(0));
        assert!(parse_initial_stock(-1).is_err());
    }

    #[test]
    fn operations_are_exact_words() {
        assert_eq!(
            StockOperation::parse("increase"),
            Ok(StockOperation::Increase)
        );
        assert_eq!(
            StockOperation::parse("decrease"),
            Ok(StockOperation::Decrease)
        );
        assert!(StockOperation::parse("Decrease").is_err());
        assert!(StockOperation::parse("set").is_err());
    }

    #[test]
    fn search_text_becomes_a_safe_prefix_query() {
        assert_eq!(fts_query("Red Shoe").as_deref(), Some("\"red\"* \"shoe\"*"));
        assert_eq!(
            fts_query("name:x OR \"y").as_deref(),
            Some("\"name\"* \"x\"* \"or\"* \"y\"*")
        );
        assert_eq!(fts_query("  !!  "), None);
    }

    #[test]
    fn text_fields_are_trimmed_and_bounded() {
        assert_eq!(bounded_text("  Mug ", 10), Ok("Mug".to_string()));
        assert!(bounded_text("   ", 10).is_err());
        assert!(bounded_text("abcdef", 5).is_err());
    }
}
