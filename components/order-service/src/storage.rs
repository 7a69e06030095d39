//! Orders, their items and idempotency keys in SQLite (label `orders`).

use contracts::events::{EventPayload, OrderCreated};
use money::Cents;
use response_handler::PageRequest;
use serde::Serialize;
use serde_json::Value;
use spin_sdk::sqlite::Value as Sql;
use store::{Database, to_json_column};

use crate::domain::{PricedLine, ShippingAddress};
use crate::error::Error;
use crate::schema::DATABASE;

/// How long an idempotency key is remembered (the contract asks for at least 24 hours).
const IDEMPOTENCY_RETENTION_MILLIS: i64 = 48 * 60 * 60 * 1000;

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

/// An order to write, with the reservation already made.
#[derive(Debug)]
pub struct NewOrder<'a> {
    pub order_id: &'a str,
    pub user_id: &'a str,
    pub lines: &'a [PricedLine],
    pub total: Cents,
    pub address: &'a ShippingAddress,
    /// The `Idempotency-Key` this request claimed, completed in the same transaction.
    pub idempotency_key: Option<&'a str>,
}

/// Writes the order, its items, `order.created`, the end of its intent and the outcome of
/// its idempotency key in one transaction: after a crash, either all of them exist or none.
/// An intent that a later request has meanwhile taken as abandoned (it is giving the stock
/// back) is not placed: 503, and the caller releases too.
pub fn insert_order(db: &Database, new: &NewOrder<'_>) -> Result<OrderView, Error> {
    let created_at = envelope::now_rfc3339();
    let address_json = serde_json::to_value(new.address).unwrap_or_default();
    let view = OrderView {
        id: new.order_id.to_string(),
        order_id: new.order_id.to_string(),
        user_id: new.user_id.to_string(),
        status: "pending".into(),
        total_amount: new.total.to_json_number(),
        items: new.lines.iter().map(item_view).collect(),
        shipping_address: address_json.clone(),
        created_at: created_at.clone(),
    };
    db.transaction(|db| {
        let placed = db.execute(
            "UPDATE orders_intents SET status = 'placed' WHERE order_id = ? AND status = 'reserving'
             RETURNING order_id",
            &[Sql::Text(new.order_id.to_string())],
        )?;
        if placed.rows.is_empty() {
            return Err(Error::AttemptCancelled {
                order_id: new.order_id.to_string(),
            });
        }
        db.execute(
            "INSERT INTO orders (id, user_id, status, total_cents, shipping_address, created_at) VALUES (?, ?, 'pending', ?, ?, ?)",
            &[
                Sql::Text(new.order_id.to_string()),
                Sql::Text(new.user_id.to_string()),
                Sql::Integer(new.total.cents()),
                Sql::Text(address_json.to_string()),
                Sql::Text(created_at.clone()),
            ],
        )?;
        for (position, line) in new.lines.iter().enumerate() {
            db.execute(
                "INSERT INTO orders_items (order_id, position, product_id, product_name, quantity, unit_price_cents, total_price_cents)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
                &[
                    Sql::Text(new.order_id.to_string()),
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
            "order-service",
            &EventPayload::OrderCreated(OrderCreated {
                order_id: new.order_id.to_string(),
                user_id: new.user_id.to_string(),
                total_amount: new.total.to_json_number(),
                item_count: new.lines.len(),
            }),
        )?;
        if let Some(key) = new.idempotency_key {
            let data = to_json_column(DATABASE, &view)?;
            db.execute(
                "UPDATE orders_idempotency_keys SET status = 'done', response_status = 201, response_data = ?
                 WHERE user_id = ? AND key = ? AND attempt = ?",
                &[
                    Sql::Text(data),
                    Sql::Text(new.user_id.into()),
                    Sql::Text(key.into()),
                    Sql::Text(new.order_id.into()),
                ],
            )?;
        }
        Ok::<_, Error>(())
    })?;
    Ok(view)
}

/// Records that an order attempt is about to reserve stock, before it does. Until it is
/// placed or closed, a request after `retry_at` (epoch milliseconds) may take it as abandoned.
pub fn open_intent(
    db: &Database,
    order_id: &str,
    user_id: &str,
    retry_at: i64,
) -> Result<(), Error> {
    db.execute(
        "INSERT INTO orders_intents (order_id, user_id, status, created_at, retry_at)
         VALUES (?, ?, 'reserving', ?, ?)",
        &[
            Sql::Text(order_id.to_string()),
            Sql::Text(user_id.to_string()),
            Sql::Text(envelope::now_rfc3339()),
            Sql::Integer(retry_at),
        ],
    )?;
    Ok(())
}

/// Marks an intent done without an order: its stock was never taken or has been given back.
pub fn close_intent(db: &Database, order_id: &str) -> Result<(), Error> {
    db.execute(
        "UPDATE orders_intents SET status = 'released'
         WHERE order_id = ? AND status IN ('reserving', 'releasing')",
        &[Sql::Text(order_id.to_string())],
    )?;
    Ok(())
}

/// Takes up to a few intents that are neither placed nor closed and whose time has passed
/// (their request crashed or gave up), marks them `releasing` so that their own request can
/// no longer place them, and holds them until `retry_at`. Returns their order ids.
pub fn claim_abandoned_intents(
    db: &Database,
    now_millis: i64,
    retry_at: i64,
) -> Result<Vec<String>, Error> {
    let open = "status IN ('reserving', 'releasing') AND retry_at <= ?1";
    // A read first: the common case (nothing abandoned) takes no write lock.
    let any = db.execute(
        &format!("SELECT 1 FROM orders_intents WHERE {open} LIMIT 1"),
        &[Sql::Integer(now_millis)],
    )?;
    if any.rows.is_empty() {
        return Ok(Vec::new());
    }
    let claimed = db.execute(
        &format!(
            "UPDATE orders_intents SET status = 'releasing', retry_at = ?2 WHERE order_id IN (
                 SELECT order_id FROM orders_intents WHERE {open} ORDER BY retry_at LIMIT ?3)
             RETURNING order_id"
        ),
        &[
            Sql::Integer(now_millis),
            Sql::Integer(retry_at),
            Sql::Integer(ABANDONED_PER_REQUEST),
        ],
    )?;
    Ok(claimed
        .rows()
        .filter_map(|row| row.get::<&str>("order_id").map(str::to_string))
        .collect())
}

/// How many abandoned intents one request releases at most.
const ABANDONED_PER_REQUEST: i64 = 10;

fn items_of(db: &Database, order_id: &str) -> Result<Vec<ItemView>, Error> {
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

fn orders_of(db: &Database, rows: &spin_sdk::sqlite::QueryResult) -> Result<Vec<OrderView>, Error> {
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

pub fn find_order(db: &Database, order_id: &str) -> Result<Option<OrderView>, Error> {
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
) -> Result<(Vec<OrderView>, u64), Error> {
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

/// Claims `(user, key)` for a request body until `lease_until` (epoch milliseconds); the
/// primary key decides between racers. A claim still `in_progress` after its lease belongs to
/// a request that died (the order and the key's outcome are written together, so it placed
/// no order) and is taken over by `attempt` (the order id this request will place): in the same
/// transaction the old attempt's intent is marked abandoned, so that request can no longer
/// place its order (its stock is released), and only the new attempt may complete the key.
pub fn claim_key(
    db: &Database,
    user_id: &str,
    key: &str,
    fingerprint: &str,
    attempt: &str,
    lease_until: i64,
) -> Result<KeyClaim, Error> {
    let now_millis = envelope::now_millis();
    let cutoff = envelope::rfc3339_from_millis(now_millis - IDEMPOTENCY_RETENTION_MILLIS);
    db.execute(
        "DELETE FROM orders_idempotency_keys WHERE created_at < ?",
        &[Sql::Text(cutoff)],
    )?;
    let claimed = db.execute(
        "INSERT INTO orders_idempotency_keys (user_id, key, fingerprint, status, created_at, claimed_until, attempt)
         VALUES (?, ?, ?, 'in_progress', ?, ?, ?)
         ON CONFLICT (user_id, key) DO NOTHING RETURNING key",
        &[Sql::Text(user_id.into()), Sql::Text(key.into()), Sql::Text(fingerprint.into()), Sql::Text(envelope::now_rfc3339()), Sql::Integer(lease_until), Sql::Text(attempt.into())],
    )?;
    if !claimed.rows.is_empty() {
        return Ok(KeyClaim::Claimed);
    }
    let existing = db.execute(
        "SELECT fingerprint, status, response_status, response_data, claimed_until, attempt FROM orders_idempotency_keys WHERE user_id = ? AND key = ?",
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
        if row.get::<i64>("claimed_until").unwrap_or(0) > now_millis {
            return Ok(KeyClaim::InProgress);
        }
        let previous = row.get::<&str>("attempt").map(str::to_string);
        let taken = db.transaction(|db| {
            let taken = db.execute(
                "UPDATE orders_idempotency_keys SET claimed_until = ?, attempt = ?
                 WHERE user_id = ? AND key = ? AND status = 'in_progress' AND claimed_until <= ?
                 RETURNING key",
                &[
                    Sql::Integer(lease_until),
                    Sql::Text(attempt.into()),
                    Sql::Text(user_id.into()),
                    Sql::Text(key.into()),
                    Sql::Integer(now_millis),
                ],
            )?;
            if !taken.rows.is_empty()
                && let Some(previous) = &previous
            {
                // Due at once: the next request releases the old attempt's stock.
                db.execute(
                    "UPDATE orders_intents SET status = 'releasing', retry_at = 0
                     WHERE order_id = ? AND status = 'reserving'",
                    &[Sql::Text(previous.clone())],
                )?;
            }
            Ok::<_, Error>(!taken.rows.is_empty())
        })?;
        return Ok(if taken {
            KeyClaim::Claimed
        } else {
            KeyClaim::InProgress
        });
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

/// Forgets a key whose request (`attempt`) failed, so the client may retry with it; a key
/// another request has taken over since is left to that request.
pub fn abandon_key(db: &Database, user_id: &str, key: &str, attempt: &str) -> Result<(), Error> {
    db.execute(
        "DELETE FROM orders_idempotency_keys
         WHERE user_id = ? AND key = ? AND status = 'in_progress' AND attempt = ?",
        &[
            Sql::Text(user_id.into()),
            Sql::Text(key.into()),
            Sql::Text(attempt.into()),
        ],
    )?;
    Ok(())
}
