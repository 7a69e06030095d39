//! Reading rows into types. A row that lacks a column or holds the wrong type is
//! [`StoreError::Corrupt`](crate::StoreError::Corrupt): the code wrote something else, and a
//! list that silently dropped it would lie about what is stored.

use spin_sdk::sqlite::{QueryResult, RowResult, Value};

use crate::StoreError;

/// A type read from one row.
pub trait FromRow: Sized {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError>;
}

/// One row of a result, read by column name.
#[derive(Debug)]
pub struct RowView<'a> {
    label: &'static str,
    columns: &'a [String],
    row: &'a RowResult,
}

pub(crate) fn read_all<T: FromRow>(
    label: &'static str,
    result: &QueryResult,
) -> Result<Vec<T>, StoreError> {
    result
        .rows
        .iter()
        .map(|row| T::from_row(&RowView::new(label, &result.columns, row)))
        .collect()
}

impl<'a> RowView<'a> {
    pub fn new(label: &'static str, columns: &'a [String], row: &'a RowResult) -> Self {
        Self {
            label,
            columns,
            row,
        }
    }

    fn value(&self, column: &str) -> Result<&'a Value, StoreError> {
        self.columns
            .iter()
            .position(|name| name == column)
            .and_then(|index| self.row.values.get(index))
            .ok_or_else(|| StoreError::corrupt(self.label, format!("no column `{column}`")))
    }

    fn wrong(&self, column: &str, expected: &str, found: &Value) -> StoreError {
        StoreError::corrupt(
            self.label,
            format!("column `{column}` holds {found:?}, not {expected}"),
        )
    }

    /// A text column that may be NULL.
    pub fn optional_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        match self.value(column)? {
            Value::Text(text) => Ok(Some(text.clone())),
            Value::Null => Ok(None),
            other => Err(self.wrong(column, "text", other)),
        }
    }

    pub fn text(&self, column: &str) -> Result<String, StoreError> {
        self.optional_text(column)?
            .ok_or_else(|| self.wrong(column, "text", &Value::Null))
    }

    /// An integer column that may be NULL.
    pub fn optional_integer(&self, column: &str) -> Result<Option<i64>, StoreError> {
        match self.value(column)? {
            Value::Integer(value) => Ok(Some(*value)),
            Value::Null => Ok(None),
            other => Err(self.wrong(column, "an integer", other)),
        }
    }

    pub fn integer(&self, column: &str) -> Result<i64, StoreError> {
        self.optional_integer(column)?
            .ok_or_else(|| self.wrong(column, "an integer", &Value::Null))
    }

    /// A 0/1 column.
    pub fn flag(&self, column: &str) -> Result<bool, StoreError> {
        Ok(self.integer(column)? != 0)
    }

    /// A JSON text column, parsed.
    pub fn json<T: serde::de::DeserializeOwned>(&self, column: &str) -> Result<T, StoreError> {
        crate::from_json_column(self.label, &self.text(column)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Item {
        name: String,
        count: i64,
        note: Option<String>,
    }

    impl FromRow for Item {
        fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
            Ok(Self {
                name: row.text("name")?,
                count: row.integer("count")?,
                note: row.optional_text("note")?,
            })
        }
    }

    fn result(rows: Vec<Vec<Value>>) -> QueryResult {
        QueryResult {
            columns: vec!["name".into(), "count".into(), "note".into()],
            rows: rows
                .into_iter()
                .map(|values| RowResult { values })
                .collect(),
        }
    }

    #[test]
    fn rows_are_read_by_column_name_with_nulls_where_allowed() {
        let read: Vec<Item> = read_all(
            "t",
            &result(vec![vec![
                Value::Text("pen".into()),
                Value::Integer(2),
                Value::Null,
            ]]),
        )
        .expect("fits");
        assert_eq!(
            read,
            [Item {
                name: "pen".into(),
                count: 2,
                note: None
            }]
        );
    }

    #[test]
    fn a_row_that_does_not_fit_is_corrupt_not_dropped() {
        let wrong_type = result(vec![vec![
            Value::Text("pen".into()),
            Value::Text("two".into()),
            Value::Null,
        ]]);
        let null_required = result(vec![vec![Value::Null, Value::Integer(1), Value::Null]]);

        for bad in [wrong_type, null_required] {
            let error = read_all::<Item>("t", &bad).expect_err("corrupt");
            assert!(
                matches!(error, StoreError::Corrupt { label: "t", .. }),
                "{error}"
            );
        }
    }
}
