//! Product rows, stock and reservations in SQLite (label `products`). Every stock change is
//! one conditional UPDATE (never read-then-write), so concurrent changes cannot oversell.

use contracts::events::{EventPayload, ProductCreated};
use contracts::reservations::{
    Released, Reservation, ReservationLine, ReservationStatus, ReservedLine,
};
use response_handler::PageRequest;
use serde::Serialize;
use spin_sdk::sqlite::{QueryResult, Value};
use store::{Database, StoreError, from_json_column, to_json_column};

use crate::domain::{Cents, Product, Quantity, StockOperation};
use crate::error::Error;
use crate::schema::DATABASE;

const COLUMNS: &str = "p.id, p.name, p.description, p.price_cents, p.category, p.stock, p.is_active, p.created_at, p.updated_at";

fn products_of(result: &QueryResult) -> Vec<Product> {
    result
        .rows()
        .filter_map(|row| {
            Some(Product {
                id: row.get::<&str>("id")?.to_string(),
                name: row.get::<&str>("name")?.to_string(),
                description: row.get::<&str>("description")?.to_string(),
                price: Cents::from_cents(row.get::<i64>("price_cents")?).to_json_number(),
                category: row.get::<&str>("category")?.to_string(),
                stock: row.get::<i64>("stock")?,
                is_active: row.get::<i64>("is_active")? != 0,
                created_at: row.get::<&str>("created_at")?.to_string(),
                updated_at: row.get::<&str>("updated_at")?.to_string(),
            })
        })
        .collect()
}

/// A validated new product.
#[derive(Debug)]
pub struct NewProduct {
    pub name: String,
    pub description: String,
    pub price: Cents,
    pub category: String,
    pub stock: i64,
}

/// Inserts a product and records `product.created` in the same transaction.
pub fn insert(db: &Database, new: NewProduct) -> Result<Product, Error> {
    let id = format!("prd_{}", uuid::Uuid::new_v4().simple());
    let now = envelope::now_rfc3339();
    db.transaction(|db| {
        db.execute(
            "INSERT INTO products (id, name, description, price_cents, category, stock, is_active, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            &[
                Value::Text(id.clone()),
                Value::Text(new.name.clone()),
                Value::Text(new.description.clone()),
                Value::Integer(new.price.cents()),
                Value::Text(new.category.clone()),
                Value::Integer(new.stock),
                Value::Text(now.clone()),
                Value::Text(now.clone()),
            ],
        )?;
        outbox::record(
            db,
            "product-service",
            &EventPayload::ProductCreated(ProductCreated {
                product_id: id.clone(),
                name: new.name.clone(),
                category: new.category.clone(),
                price: new.price.to_json_number(),
            }),
        )?;
        Ok::<_, Error>(())
    })?;
    find(db, &id)?.ok_or_else(|| {
        Error::Store(StoreError::Corrupt {
            label: DATABASE,
            cause: format!("product {id} vanished after its insert"),
        })
    })
}

pub fn find(db: &Database, id: &str) -> Result<Option<Product>, Error> {
    let result = db.execute(
        &format!("SELECT {COLUMNS} FROM products p WHERE p.id = ?"),
        &[Value::Text(id.to_string())],
    )?;
    Ok(products_of(&result).into_iter().next())
}

/// Filters of the product list.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub category: Option<String>,
    pub min_price: Option<Cents>,
    pub max_price: Option<Cents>,
    /// An FTS5 query made by `domain::fts_query`.
    pub search: Option<String>,
}

/// A page of active products (newest first, or by relevance when searching) and the total,
/// both read in one transaction.
pub fn list(
    db: &Database,
    filter: &ListFilter,
    page: PageRequest,
) -> Result<(Vec<Product>, u64), Error> {
    let mut from = String::from("FROM products p");
    let mut conditions = vec!["p.is_active = 1".to_string()];
    let mut parameters = Vec::new();
    if let Some(search) = &filter.search {
        from.push_str(" JOIN products_fts ON products_fts.rowid = p.rowid");
        conditions.push("products_fts MATCH ?".into());
        parameters.push(Value::Text(search.clone()));
    }
    if let Some(category) = &filter.category {
        conditions.push("p.category = ?".into());
        parameters.push(Value::Text(category.clone()));
    }
    if let Some(min) = filter.min_price {
        conditions.push("p.price_cents >= ?".into());
        parameters.push(Value::Integer(min.cents()));
    }
    if let Some(max) = filter.max_price {
        conditions.push("p.price_cents <= ?".into());
        parameters.push(Value::Integer(max.cents()));
    }
    let filter_sql = format!("{from} WHERE {}", conditions.join(" AND "));
    let order = if filter.search.is_some() {
        "ORDER BY bm25(products_fts), p.created_at DESC, p.rowid DESC"
    } else {
        "ORDER BY p.created_at DESC, p.rowid DESC"
    };
    db.read_transaction(|db| {
        let total = db.execute(
            &format!("SELECT COUNT(*) AS total {filter_sql}"),
            &parameters,
        )?;
        let total = total
            .rows()
            .next()
            .and_then(|row| row.get::<i64>("total"))
            .unwrap_or(0);
        let mut page_parameters = parameters.clone();
        page_parameters.push(Value::Integer(i64::from(page.limit)));
        page_parameters.push(Value::Integer(page.offset()));
        let rows = db.execute(
            &format!("SELECT {COLUMNS} {filter_sql} {order} LIMIT ? OFFSET ?"),
            &page_parameters,
        )?;
        Ok((products_of(&rows), u64::try_from(total).unwrap_or(0)))
    })
}

/// The result of a stock change.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StockChange {
    pub product_id: String,
    pub previous_stock: i64,
    pub new_stock: i64,
}

fn current_stock(db: &Database, id: &str) -> Result<Option<i64>, Error> {
    let result = db.execute(
        "SELECT stock FROM products WHERE id = ?",
        &[Value::Text(id.to_string())],
    )?;
    Ok(result.rows().next().and_then(|row| row.get::<i64>("stock")))
}

fn not_found(id: &str) -> Error {
    Error::ProductNotFound {
        product_id: id.to_string(),
    }
}

/// Changes stock with one conditional UPDATE; a decrease below zero changes nothing (409).
pub fn change_stock(
    db: &Database,
    id: &str,
    quantity: Quantity,
    operation: StockOperation,
) -> Result<StockChange, Error> {
    let delta = match operation {
        StockOperation::Increase => quantity.get(),
        StockOperation::Decrease => -quantity.get(),
    };
    let changed = db.execute(
        "UPDATE products SET stock = stock + ?, updated_at = ?
         WHERE id = ? AND stock + ? >= 0 AND stock + ? <= ?
         RETURNING stock - ? AS previous, stock AS current",
        &[
            Value::Integer(delta),
            Value::Text(envelope::now_rfc3339()),
            Value::Text(id.to_string()),
            Value::Integer(delta),
            Value::Integer(delta),
            Value::Integer(i64::MAX / 4),
            Value::Integer(delta),
        ],
    )?;
    if let Some(row) = changed.rows().next() {
        return Ok(StockChange {
            product_id: id.to_string(),
            previous_stock: row.get::<i64>("previous").unwrap_or_default(),
            new_stock: row.get::<i64>("current").unwrap_or_default(),
        });
    }
    match current_stock(db, id)? {
        None => Err(not_found(id)),
        Some(available) => Err(Error::InsufficientStock {
            product_id: id.to_string(),
            requested: quantity.get(),
            available,
        }),
    }
}

fn stored_reservation(db: &Database, order_id: &str) -> Result<Option<Reservation>, Error> {
    let result = db.execute(
        "SELECT status, items FROM products_reservations WHERE order_id = ?",
        &[Value::Text(order_id.to_string())],
    )?;
    let Some(row) = result.rows().next() else {
        return Ok(None);
    };
    let items = from_json_column(DATABASE, row.get::<&str>("items").unwrap_or("[]"))?;
    let status = match row.get::<&str>("status") {
        Some("released") => ReservationStatus::Released,
        _ => ReservationStatus::Reserved,
    };
    Ok(Some(Reservation {
        order_id: order_id.to_string(),
        status,
        items,
    }))
}

/// Reserves every line or none, in one transaction; a second call for the same order
/// returns the first outcome and changes nothing. `Ok((reservation, created))`. An order
/// released before (even one never reserved: a tombstone) is refused with 409.
pub fn reserve(
    db: &Database,
    order_id: &str,
    lines: &[ReservationLine],
) -> Result<(Reservation, bool), Error> {
    db.transaction(|db| {
        if let Some(existing) = stored_reservation(db, order_id)? {
            if existing.status == ReservationStatus::Released {
                return Err(Error::ReservationReleased {
                    order_id: order_id.to_string(),
                });
            }
            return Ok((existing, false));
        }
        let mut reserved = Vec::with_capacity(lines.len());
        for line in lines {
            let changed = db.execute(
                "UPDATE products SET stock = stock - ?, updated_at = ?
                 WHERE id = ? AND is_active = 1 AND stock >= ?
                 RETURNING name, price_cents",
                &[
                    Value::Integer(line.quantity),
                    Value::Text(envelope::now_rfc3339()),
                    Value::Text(line.product_id.clone()),
                    Value::Integer(line.quantity),
                ],
            )?;
            let Some(row) = changed.rows().next() else {
                // The transaction is rolled back by the caller's error: nothing was reserved.
                let result = db.execute(
                    "SELECT stock FROM products WHERE id = ? AND is_active = 1",
                    &[Value::Text(line.product_id.clone())],
                )?;
                return Err(match result.rows().next().and_then(|row| row.get::<i64>("stock")) {
                    None => not_found(&line.product_id),
                    Some(available) => Error::InsufficientStock {
                        product_id: line.product_id.clone(),
                        requested: line.quantity,
                        available,
                    },
                });
            };
            reserved.push(ReservedLine {
                product_id: line.product_id.clone(),
                product_name: row.get::<&str>("name").unwrap_or_default().to_string(),
                quantity: line.quantity,
                unit_price_cents: row.get::<i64>("price_cents").unwrap_or_default(),
            });
        }
        db.execute(
            "INSERT INTO products_reservations (order_id, status, items, created_at) VALUES (?, 'reserved', ?, ?)",
            &[
                Value::Text(order_id.to_string()),
                Value::Text(to_json_column(DATABASE, &reserved)?),
                Value::Text(envelope::now_rfc3339()),
            ],
        )?;
        Ok((
            Reservation {
                order_id: order_id.to_string(),
                status: ReservationStatus::Reserved,
                items: reserved,
            },
            true,
        ))
    })
}

/// Gives a reservation's stock back, once; releasing again changes nothing. Releasing an
/// order that has no reservation leaves a tombstone, so that a reservation for it arriving
/// late (the order service gave up on it, or crashed, while it was in flight) cannot keep
/// the stock.
pub fn release(db: &Database, order_id: &str) -> Result<Released, Error> {
    db.transaction(|db| {
        let released = db.execute(
            "UPDATE products_reservations SET status = 'released', released_at = ?
             WHERE order_id = ? AND status = 'reserved' RETURNING items",
            &[Value::Text(envelope::now_rfc3339()), Value::Text(order_id.to_string())],
        )?;
        if let Some(row) = released.rows().next() {
            let items: Vec<ReservedLine> =
                from_json_column(DATABASE, row.get::<&str>("items").unwrap_or("[]"))?;
            for item in items {
                db.execute(
                    "UPDATE products SET stock = stock + ?, updated_at = ? WHERE id = ?",
                    &[
                        Value::Integer(item.quantity),
                        Value::Text(envelope::now_rfc3339()),
                        Value::Text(item.product_id),
                    ],
                )?;
            }
        } else {
            db.execute(
                "INSERT INTO products_reservations (order_id, status, items, created_at, released_at)
                 VALUES (?, 'released', '[]', ?, ?) ON CONFLICT (order_id) DO NOTHING",
                &[
                    Value::Text(order_id.to_string()),
                    Value::Text(envelope::now_rfc3339()),
                    Value::Text(envelope::now_rfc3339()),
                ],
            )?;
        }
        Ok(Released {
            order_id: order_id.to_string(),
            status: ReservationStatus::Released,
        })
    })
}
