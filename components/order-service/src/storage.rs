//! Orders, their items and idempotency keys in SQLite (label `orders`).

use money::Cents;
use response_handler::{ApiError, PageRequest};
use serde::Serialize;
use serde_json::{Value, json};
use spin_sdk::sqlite::Value as Sql;
use store::Database;

use crate::domain::{PricedLine, ShippingAddress};

/// How long an idempotency key is remembered (the contract asks for at least 24 hours).
const IDEMPOTENCY_RETENTION_MILLIS: i64 = 48 * 60 * 60 * 1000;

fn now() -> String {
    envelope::rfc3339_from_millis(envelope::now_millis())
}

/// An order line as clients see it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemView {
    pub product_id: String,
    pub product_name: String,
    pub quantity: i64,
    pub unit_price: f64,
    pub total_price: f64,
}

/// An order as clients see it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub id: String,
    /// Equal to `id`, kept for clients of the original design.
    pub order_id: String,
    pub user_id: String,
    pub status: String,
    pub total_amount: f64,
    pub items: Vec<ItemView>,
    pub shipping_address: Value,
    pub created_at: String,
}

fn item_view(line: &PricedLine) -> ItemView {
    ItemView {
        product_id: line.product_id.clone(),
        product_name: line.product_name.clone(),
        quantity: line.quantity,
        unit_price: Cents::from_cents(line.unit_price_cents).to_json_number(),
        total_price: Cents::from_cents(line.total_price_cents).to_json_number(),
    }
}

/// Writes the order, its items and `order.created` in one transaction.
pub fn insert_order(
    db: &Database,
    order_id: &str,
    user_id: &str,
    lines: &[PricedLine],
    total: Cents,
    address: &ShippingAddress,
) -> Result<OrderView, ApiError> {
    let created_at = now();
    let address_json = serde_json::to_value(address).map_err(ApiError::internal)?;
    db.transaction(|db| {
        db.execute(
            "INSERT INTO orders (id, user_id, status, total_cents, shipping_address, created_at) VALUES (?, ?, 'pending', ?, ?, ?)",
            &[
                Sql::Text(order_id.to_string()),
                Sql::Text(user_id.to_string()),
                Sql::Integer(total.cents()),
                Sql::Text(address_json.to_string()),
                Sql::Text(created_at.clone()),
            ],
        )?;
        for (position, line) in lines.iter().enumerate() {
            db.execute(
                "INSERT INTO orders_items (order_id, position, product_id, product_name, quantity, unit_price_cents, total_price_cents)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
                &[
                    Sql::Text(order_id.to_string()),
                    Sql::Integer(i64::try_from(position).unwrap_or(i64::MAX)),
                    Sql::Text(line.product_id.clone()),
                    Sql::Text(line.product_name.clone()),
                    Sql::Integer(line.quantity),
                    Sql::Integer(line.unit_price_cents),
                    Sql::Integer(line.total_price_cents),
                ],
            )?;
        }
        outbox::record(
            db,
            "order.created",
            "order-service",
            &json!({
                "orderId": order_id,
                "userId": user_id,
                "totalAmount": total.to_json_number(),
                "itemCount": lines.len(),
            }),
        )?;
        Ok(())
    })?;
    Ok(OrderView {
        id: order_id.to_string(),
        order_id: order_id.to_string(),
        user_id: user_id.to_string(),
        status: "pending".into(),
        total_amount: total.to_json_number(),
        items: lines.iter().map(item_view).collect(),
        shipping_address: address_json,
        created_at,
    })
}

fn items_of(db: &Database, order_id: &str) -> Result<Vec<ItemView>, ApiError> {
    let rows = db.execute(
        "SELECT product_id, product_name, quantity, unit_price_cents, total_price_cents
         FROM orders_items WHERE order_id = ? ORDER BY position",
        &[Sql::Text(order_id.to_string())],
    )?;
    Ok(rows
        .rows()
        .filter_map(|row| {
            Some(item_view(&PricedLine {
                product_id: row.get::<&str>("product_id")?.to_string(),
                product_name: row.get::<&str>("product_name")?.to_string(),
                quantity: row.get::<i64>("quantity")?,
                unit_price_cents: row.get::<i64>("unit_price_cents")?,
                total_price_cents: row.get::<i64>("total_price_cents")?,
            }))
        })
        .collect())
}

fn orders_of(
    db: &Database,
    rows: &spin_sdk::sqlite::QueryResult,
) -> Result<Vec<OrderView>, ApiError> {
    let mut orders = Vec::new();
    for row in rows.rows() {
        let (Some(id), Some(user_id), Some(status), Some(total), Some(address), Some(created_at)) = (
            row.get::<&str>("id"),
            row.get::<&str>("user_id"),
            row.get::<&str>("status"),
            row.get::<i64>("total_cents"),
            row.get::<&str>("shipping_address"),
            row.get::<&str>("created_at"),
        ) else {
            continue;
        };
        orders.push(OrderView {
            id: id.to_string(),
            order_id: id.to_string(),
            user_id: user_id.to_string(),
            status: status.to_string(),
            total_amount: Cents::from_cents(total).to_json_number(),
            items: items_of(db, id)?,
            shipping_address: serde_json::from_str(address).unwrap_or(Value::Null),
            created_at: created_at.to_string(),
        });
    }
    Ok(orders)
}

const ORDER_COLUMNS: &str = "id, user_id, status, total_cents, shipping_address, created_at";

pub fn find_order(db: &Database, order_id: &str) -> Result<Option<OrderView>, ApiError> {
    let rows = db.execute(
        &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?"),
        &[Sql::Text(order_id.to_string())],
    )?;
    Ok(orders_of(db, &rows)?.into_iter().next())
}

/// A user's orders, newest first, with the total, from one read transaction.
pub fn list_orders(
    db: &Database,
    user_id: &str,
    page: PageRequest,
) -> Result<(Vec<OrderView>, u64), ApiError> {
    db.read_transaction(|db| {
        let total = db.execute("SELECT COUNT(*) AS total FROM orders WHERE user_id = ?", &[Sql::Text(user_id.to_string())])?;
        let total = total.rows().next().and_then(|row| row.get::<i64>("total")).unwrap_or(0);
        let rows = db.execute(
            &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?"),
            &[Sql::Text(user_id.to_string()), Sql::Integer(i64::from(page.limit)), Sql::Integer(page.offset())],
        )?;
        Ok((orders_of(db, &rows)?, u64::try_from(total).unwrap_or(0)))
    })
}

/// What claiming an idempotency key found.
pub enum KeyClaim {
    /// This request owns the key and must complete or abandon it.
    Claimed,
    /// The same request already completed: replay its status and data.
    Completed { status: u16, data: Value },
    /// The same request is still running elsewhere.
    InProgress,
    /// The key was used for a different body.
    Mismatch,
}

/// Claims `(user, key)` for a request body; the primary key decides between racers.
pub fn claim_key(
    db: &Database,
    user_id: &str,
    key: &str,
    fingerprint: &str,
) -> Result<KeyClaim, ApiError> {
    let cutoff =
        envelope::rfc3339_from_millis(envelope::now_millis() - IDEMPOTENCY_RETENTION_MILLIS);
    db.execute(
        "DELETE FROM orders_idempotency_keys WHERE created_at < ?",
        &[Sql::Text(cutoff)],
    )?;
    let claimed = db.execute(
        "INSERT INTO orders_idempotency_keys (user_id, key, fingerprint, status, created_at) VALUES (?, ?, ?, 'in_progress', ?)
         ON CONFLICT (user_id, key) DO NOTHING RETURNING key",
        &[Sql::Text(user_id.into()), Sql::Text(key.into()), Sql::Text(fingerprint.into()), Sql::Text(now())],
    )?;
    if !claimed.rows.is_empty() {
        return Ok(KeyClaim::Claimed);
    }
    let existing = db.execute(
        "SELECT fingerprint, status, response_status, response_data FROM orders_idempotency_keys WHERE user_id = ? AND key = ?",
        &[Sql::Text(user_id.into()), Sql::Text(key.into())],
    )?;
    let Some(row) = existing.rows().next() else {
        // Expired between the two statements: treat as a fresh claim attempt failing safe.
        return Ok(KeyClaim::InProgress);
    };
    if row.get::<&str>("fingerprint") != Some(fingerprint) {
        return Ok(KeyClaim::Mismatch);
    }
    if row.get::<&str>("status") != Some("done") {
        return Ok(KeyClaim::InProgress);
    }
    let status = row
        .get::<i64>("response_status")
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(201);
    let data = row
        .get::<&str>("response_data")
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or(Value::Null);
    Ok(KeyClaim::Completed { status, data })
}

/// Stores the response of a claimed key for replays.
pub fn complete_key(
    db: &Database,
    user_id: &str,
    key: &str,
    status: u16,
    data: &Value,
) -> Result<(), ApiError> {
    db.execute(
        "UPDATE orders_idempotency_keys SET status = 'done', response_status = ?, response_data = ? WHERE user_id = ? AND key = ?",
        &[Sql::Integer(i64::from(status)), Sql::Text(data.to_string()), Sql::Text(user_id.into()), Sql::Text(key.into())],
    )
    .map(drop)
}

/// Forgets a claimed key whose request failed, so the client may retry with it.
pub fn abandon_key(db: &Database, user_id: &str, key: &str) -> Result<(), ApiError> {
    db.execute(
        "DELETE FROM orders_idempotency_keys WHERE user_id = ? AND key = ? AND status = 'in_progress'",
        &[Sql::Text(user_id.into()), Sql::Text(key.into())],
    )
    .map(drop)
}
