//! Products, stock and reservations in SQLite (label `products`). Every stock change is one
//! conditional UPDATE (never read-then-write), so concurrent changes cannot oversell.

use contracts::events::{EventPayload, ProductCreated, ProductUpdated};
use contracts::reservations::{
    Released, Reservation, ReservationLine, ReservationStatus, ReservedLine,
};
use platform::{Service, clock};
use serde::Serialize;
use store::{Database, FromRow, Listing, Page, RowView, StoreError, Value, to_json_column};

use crate::domain::{Cents, ListQuery, NewProduct, Product, ProductChange, StockChange};
use crate::error::Error;
use crate::schema::DATABASE;

const COLUMNS: &str = "p.id, p.name, p.description, p.price_cents, p.category, p.stock, p.is_active, p.created_at, p.updated_at";
/// The same columns, as an insert or update returns them.
const RETURNED: &str =
    "id, name, description, price_cents, category, stock, is_active, created_at, updated_at";

impl FromRow for Product {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.text("id")?,
            name: row.text("name")?,
            description: row.text("description")?,
            price: Cents::from_cents(row.integer("price_cents")?).to_json_number(),
            category: row.text("category")?,
            stock: row.integer("stock")?,
            is_active: row.flag("is_active")?,
            created_at: row.text("created_at")?,
            updated_at: row.text("updated_at")?,
        })
    }
}

fn not_found(id: &str) -> Error {
    Error::ProductNotFound {
        product_id: id.to_string(),
    }
}

/// Inserts a product and records `product.created` in the same transaction.
pub fn insert(db: &Database, new: &NewProduct) -> Result<Product, Error> {
    let id = format!("prd_{}", uuid::Uuid::new_v4().simple());
    let now = clock::now_rfc3339();
    let product = db.transaction(|db| {
        let product = db.query_one::<Product>(
            &format!(
                "INSERT INTO products (id, name, description, price_cents, category, stock,
                                       is_active, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) RETURNING {RETURNED}"
            ),
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
            Service::Products,
            &EventPayload::ProductCreated(ProductCreated {
                product_id: id.clone(),
                name: new.name.clone(),
                category: new.category.clone(),
                price: new.price.to_json_number(),
            }),
        )?;
        Ok::<_, Error>(product)
    })?;
    product.ok_or_else(|| {
        Error::Store(StoreError::corrupt(
            DATABASE,
            format!("product {id} not returned by its insert"),
        ))
    })
}

pub fn find(db: &Database, id: &str) -> Result<Option<Product>, Error> {
    Ok(db.query_one(
        &format!("SELECT {COLUMNS} FROM products p WHERE p.id = ?"),
        &[Value::Text(id.to_string())],
    )?)
}

/// Applies `change` to product `id` and records `product.updated` in the same transaction;
/// `updated_at` moves on. Orders keep the prices they were placed at (they store them).
pub fn update(db: &Database, id: &str, change: &ProductChange) -> Result<Product, Error> {
    db.transaction(|db| {
        let updated = db.query_one::<Product>(
            &format!(
                "UPDATE products SET
                     name = COALESCE(?1, name),
                     description = COALESCE(?2, description),
                     price_cents = COALESCE(?3, price_cents),
                     category = COALESCE(?4, category),
                     is_active = COALESCE(?5, is_active),
                     updated_at = ?6
                 WHERE id = ?7 RETURNING {RETURNED}"
            ),
            &[
                change.name.clone().map_or(Value::Null, Value::Text),
                change.description.clone().map_or(Value::Null, Value::Text),
                change
                    .price
                    .map_or(Value::Null, |price| Value::Integer(price.cents())),
                change.category.clone().map_or(Value::Null, Value::Text),
                change
                    .is_active
                    .map_or(Value::Null, |active| Value::Integer(i64::from(active))),
                Value::Text(clock::now_rfc3339()),
                Value::Text(id.to_string()),
            ],
        )?;
        let product = updated.ok_or_else(|| not_found(id))?;
        outbox::record(
            db,
            Service::Products,
            &EventPayload::ProductUpdated(ProductUpdated {
                product_id: product.id.clone(),
                name: product.name.clone(),
                category: product.category.clone(),
                price: product.price,
                is_active: product.is_active,
                changed: change.fields(),
            }),
        )?;
        Ok(product)
    })
}

/// A page of products (newest first, or by relevance when searching) and the total.
pub fn list(db: &Database, query: &ListQuery, page: Page) -> Result<(Vec<Product>, u64), Error> {
    let mut conditions = Vec::new();
    let mut parameters = Vec::new();
    if !query.include_inactive {
        conditions.push("p.is_active = 1".to_string());
    }
    if let Some(search) = &query.search {
        conditions.push("products_fts MATCH ?".into());
        parameters.push(Value::Text(search.clone()));
    }
    if let Some(category) = &query.category {
        conditions.push("p.category = ?".into());
        parameters.push(Value::Text(category.clone()));
    }
    if let Some(min) = query.min_price {
        conditions.push("p.price_cents >= ?".into());
        parameters.push(Value::Integer(min.cents()));
    }
    if let Some(max) = query.max_price {
        conditions.push("p.price_cents <= ?".into());
        parameters.push(Value::Integer(max.cents()));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    // A search ranks by bm25, which SQLite computes only in the query that matches: the
    // matches are ranked in a subquery, and the count and the page read from it.
    let (from, order_by) = if query.search.is_some() {
        (
            format!(
                "FROM (SELECT p.*, p.rowid AS row_id, bm25(products_fts) AS rank
                       FROM products p JOIN products_fts ON products_fts.rowid = p.rowid{filter}) p"
            ),
            "p.rank, p.created_at DESC, p.row_id DESC",
        )
    } else {
        (
            format!("FROM products p{filter}"),
            "p.created_at DESC, p.rowid DESC",
        )
    };
    Ok(db.page(
        &Listing {
            columns: COLUMNS,
            from: &from,
            order_by,
            parameters,
        },
        page,
    )?)
}

/// The result of a stock change.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StockChanged {
    pub product_id: String,
    pub previous_stock: i64,
    pub new_stock: i64,
}

/// The stock of product `id`, active or not.
fn current_stock(db: &Database, id: &str, active_only: bool) -> Result<Option<i64>, Error> {
    let active = if active_only {
        " AND is_active = 1"
    } else {
        ""
    };
    let stock = db.execute(
        &format!("SELECT stock FROM products WHERE id = ?{active}"),
        &[Value::Text(id.to_string())],
    )?;
    Ok(
        match stock.rows.first().and_then(|row| row.values.first()) {
            Some(Value::Integer(stock)) => Some(*stock),
            _ => None,
        },
    )
}

/// Changes stock with one conditional UPDATE; a decrease below zero changes nothing (409).
pub fn change_stock(db: &Database, id: &str, change: StockChange) -> Result<StockChanged, Error> {
    let delta = change.delta();
    let changed = db.execute(
        "UPDATE products SET stock = stock + ?1, updated_at = ?2
         WHERE id = ?3 AND stock + ?1 >= 0 AND stock + ?1 <= ?4
         RETURNING stock - ?1 AS previous, stock AS current",
        &[
            Value::Integer(delta),
            Value::Text(clock::now_rfc3339()),
            Value::Text(id.to_string()),
            Value::Integer(i64::MAX / 4),
        ],
    )?;
    if let Some(row) = changed.rows.first() {
        let row = RowView::new(DATABASE, &changed.columns, row);
        return Ok(StockChanged {
            product_id: id.to_string(),
            previous_stock: row.integer("previous")?,
            new_stock: row.integer("current")?,
        });
    }
    match current_stock(db, id, false)? {
        None => Err(not_found(id)),
        Some(available) => Err(Error::InsufficientStock {
            product_id: id.to_string(),
            requested: change.quantity.get(),
            available,
        }),
    }
}

struct StoredReservation {
    status: ReservationStatus,
    items: Vec<ReservedLine>,
}

impl FromRow for StoredReservation {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        let status = match row.text("status")?.as_str() {
            "released" => ReservationStatus::Released,
            _ => ReservationStatus::Reserved,
        };
        Ok(Self {
            status,
            items: row.json("items")?,
        })
    }
}

/// Reserves every line or none, in one transaction; a second call for the same order returns
/// the first outcome and changes nothing. `Ok((reservation, created))`. An order released
/// before (even one never reserved: a tombstone) is refused with 409; an inactive product is
/// as unknown as a missing one.
pub fn reserve(
    db: &Database,
    order_id: &str,
    lines: &[ReservationLine],
) -> Result<(Reservation, bool), Error> {
    db.transaction(|db| {
        let existing = db.query_one::<StoredReservation>(
            "SELECT status, items FROM products_reservations WHERE order_id = ?",
            &[Value::Text(order_id.to_string())],
        )?;
        if let Some(existing) = existing {
            if existing.status == ReservationStatus::Released {
                return Err(Error::ReservationReleased {
                    order_id: order_id.to_string(),
                });
            }
            let reservation = Reservation {
                order_id: order_id.to_string(),
                status: existing.status,
                items: existing.items,
            };
            return Ok((reservation, false));
        }
        let now = clock::now_rfc3339();
        let mut reserved = Vec::with_capacity(lines.len());
        for line in lines {
            let changed = db.execute(
                "UPDATE products SET stock = stock - ?1, updated_at = ?2
                 WHERE id = ?3 AND is_active = 1 AND stock >= ?1
                 RETURNING name, price_cents",
                &[
                    Value::Integer(line.quantity),
                    Value::Text(now.clone()),
                    Value::Text(line.product_id.clone()),
                ],
            )?;
            let Some(row) = changed.rows.first() else {
                // The transaction is rolled back by the error: nothing was reserved.
                return Err(match current_stock(db, &line.product_id, true)? {
                    None => not_found(&line.product_id),
                    Some(available) => Error::InsufficientStock {
                        product_id: line.product_id.clone(),
                        requested: line.quantity,
                        available,
                    },
                });
            };
            let row = RowView::new(DATABASE, &changed.columns, row);
            reserved.push(ReservedLine {
                product_id: line.product_id.clone(),
                product_name: row.text("name")?,
                quantity: line.quantity,
                unit_price_cents: row.integer("price_cents")?,
            });
        }
        db.execute(
            "INSERT INTO products_reservations (order_id, status, items, created_at)
             VALUES (?, 'reserved', ?, ?)",
            &[
                Value::Text(order_id.to_string()),
                Value::Text(to_json_column(DATABASE, &reserved)?),
                Value::Text(now),
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

struct ReleasedItems(Vec<ReservedLine>);

impl FromRow for ReleasedItems {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        Ok(Self(row.json("items")?))
    }
}

/// Gives a reservation's stock back, once; releasing again changes nothing. Releasing an
/// order that has no reservation leaves a tombstone, so that a reservation for it arriving
/// late (the order service gave up on it, or crashed, while it was in flight) cannot keep
/// the stock.
pub fn release(db: &Database, order_id: &str) -> Result<Released, Error> {
    let now = clock::now_rfc3339();
    db.transaction(|db| {
        let released = db.query_one::<ReleasedItems>(
            "UPDATE products_reservations SET status = 'released', released_at = ?
             WHERE order_id = ? AND status = 'reserved' RETURNING items",
            &[Value::Text(now.clone()), Value::Text(order_id.to_string())],
        )?;
        match released {
            Some(ReleasedItems(items)) => {
                for item in items {
                    db.execute(
                        "UPDATE products SET stock = stock + ?, updated_at = ? WHERE id = ?",
                        &[
                            Value::Integer(item.quantity),
                            Value::Text(now.clone()),
                            Value::Text(item.product_id),
                        ],
                    )?;
                }
            }
            None => {
                db.execute(
                    "INSERT INTO products_reservations (order_id, status, items, created_at, released_at)
                     VALUES (?, 'released', '[]', ?, ?) ON CONFLICT (order_id) DO NOTHING",
                    &[
                        Value::Text(order_id.to_string()),
                        Value::Text(now.clone()),
                        Value::Text(now.clone()),
                    ],
                )?;
            }
        }
        Ok(Released {
            order_id: order_id.to_string(),
            status: ReservationStatus::Released,
        })
    })
}
