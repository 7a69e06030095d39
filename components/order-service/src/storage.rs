//! Orders, their items, attempts (intents) and idempotency keys in SQLite (label `orders`).
//! Every change of an order's status is one conditional UPDATE in a transaction with its
//! event, so of two racing moves exactly one happens.

use contracts::events::{EventPayload, OrderCancelled, OrderCreated, OrderStatusChanged};
use money::Cents;
use platform::{Service, clock};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{Database, FromRow, Listing, Page, RowView, StoreError, Value as Sql, to_json_column};

use crate::domain::{CancelReason, OrderStatus, PricedLine, ShippingAddress};
use crate::error::Error;
use crate::schema::DATABASE;

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

/// One step of an order's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEntry {
    pub status: OrderStatus,
    pub at: String,
}

/// An order as clients see it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub id: String,
    /// Equal to `id`, kept for clients of the original design.
    pub order_id: String,
    pub user_id: String,
    pub status: OrderStatus,
    pub total_amount: f64,
    pub items: Vec<ItemView>,
    pub shipping_address: Value,
    pub created_at: String,
    pub updated_at: String,
    pub status_history: Vec<StatusEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<CancelReason>,
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

const ORDER_COLUMNS: &str = "id, user_id, status, total_cents, shipping_address, created_at, updated_at, status_history, cancel_reason";

impl FromRow for OrderView {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        let id = row.text("id")?;
        let status = row.text("status")?;
        let created_at = row.text("created_at")?;
        Ok(Self {
            order_id: id.clone(),
            id,
            user_id: row.text("user_id")?,
            status: OrderStatus::parse(&status)
                .ok_or_else(|| StoreError::corrupt(DATABASE, format!("status `{status}`")))?,
            total_amount: Cents::from_cents(row.integer("total_cents")?).to_json_number(),
            items: Vec::new(),
            shipping_address: row.json("shipping_address")?,
            updated_at: row
                .optional_text("updated_at")?
                .unwrap_or(created_at.clone()),
            created_at,
            status_history: row.json("status_history")?,
            cancel_reason: match row.optional_text("cancel_reason")? {
                None => None,
                Some(text) => Some(CancelReason::parse(&text).ok_or_else(|| {
                    StoreError::corrupt(DATABASE, format!("cancel reason `{text}`"))
                })?),
            },
        })
    }
}

struct ItemRow {
    order_id: String,
    line: PricedLine,
}

impl FromRow for ItemRow {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            order_id: row.text("order_id")?,
            line: PricedLine {
                product_id: row.text("product_id")?,
                product_name: row.text("product_name")?,
                quantity: row.integer("quantity")?,
                unit_price_cents: row.integer("unit_price_cents")?,
                total_price_cents: row.integer("total_price_cents")?,
            },
        })
    }
}

/// Fills in the items of `orders` with one query.
fn with_items(db: &Database, mut orders: Vec<OrderView>) -> Result<Vec<OrderView>, Error> {
    if orders.is_empty() {
        return Ok(orders);
    }
    let marks = vec!["?"; orders.len()].join(", ");
    let ids: Vec<Sql> = orders
        .iter()
        .map(|order| Sql::Text(order.id.clone()))
        .collect();
    let items: Vec<ItemRow> = db.query(
        &format!(
            "SELECT order_id, product_id, product_name, quantity, unit_price_cents, total_price_cents
             FROM orders_items WHERE order_id IN ({marks}) ORDER BY order_id, position"
        ),
        &ids,
    )?;
    for item in items {
        if let Some(order) = orders.iter_mut().find(|order| order.id == item.order_id) {
            order.items.push(item_view(&item.line));
        }
    }
    Ok(orders)
}

pub fn find_order(db: &Database, order_id: &str) -> Result<Option<OrderView>, Error> {
    let order: Option<OrderView> = db.query_one(
        &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?"),
        &[Sql::Text(order_id.to_string())],
    )?;
    Ok(with_items(db, order.into_iter().collect())?
        .into_iter()
        .next())
}

/// Orders newest first (one user's, or everyone's), optionally of one status, with the total.
pub fn list_orders(
    db: &Database,
    owner: Option<&str>,
    status: Option<OrderStatus>,
    page: Page,
) -> Result<(Vec<OrderView>, u64), Error> {
    let mut conditions = Vec::new();
    let mut parameters = Vec::new();
    if let Some(owner) = owner {
        conditions.push("user_id = ?");
        parameters.push(Sql::Text(owner.to_string()));
    }
    if let Some(status) = status {
        conditions.push("status = ?");
        parameters.push(Sql::Text(status.as_str().to_string()));
    }
    let from = if conditions.is_empty() {
        "FROM orders".to_string()
    } else {
        format!("FROM orders WHERE {}", conditions.join(" AND "))
    };
    let (orders, total) = db.page(
        &Listing {
            columns: ORDER_COLUMNS,
            from: &from,
            order_by: "created_at DESC, rowid DESC",
            parameters,
        },
        page,
    )?;
    Ok((with_items(db, orders)?, total))
}

/// An idempotency key's claim, as this attempt found it.
#[derive(Debug)]
pub enum KeyClaim {
    /// No key, or this attempt owns it now: go on.
    Proceed,
    /// The same request already completed: replay its status and data.
    Completed { status: u16, data: Value },
    /// The same request is still running elsewhere (its lease has not passed).
    InProgress,
    /// The key was used for a different body.
    Mismatch,
}

/// An order attempt about to begin.
#[derive(Debug)]
pub struct Attempt<'a> {
    pub order_id: &'a str,
    pub user_id: &'a str,
    /// `(key, body fingerprint)`, when the client sent an `Idempotency-Key`.
    pub key: Option<(&'a str, &'a str)>,
    /// Until when (epoch milliseconds) no other request may take the key or release the
    /// attempt as abandoned.
    pub lease_until: i64,
}

struct StoredKey {
    fingerprint: String,
    done: bool,
    response_status: Option<i64>,
    response_data: Option<String>,
    claimed_until: i64,
    attempt: Option<String>,
}

impl FromRow for StoredKey {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            fingerprint: row.text("fingerprint")?,
            done: row.text("status")? == "done",
            response_status: row.optional_integer("response_status")?,
            response_data: row.optional_text("response_data")?,
            claimed_until: row.integer("claimed_until")?,
            attempt: row.optional_text("attempt")?,
        })
    }
}

/// Begins an attempt, in one transaction: its idempotency key is claimed (or taken over from
/// a request whose lease passed, whose own attempt is then marked to be released) and its
/// intent recorded, so there is never a moment when the key names an attempt that has no
/// intent a takeover could stop.
pub fn begin_attempt(db: &Database, attempt: &Attempt<'_>) -> Result<KeyClaim, Error> {
    let now = clock::now_millis();
    let record_intent = |db: &Database| {
        db.execute(
            "INSERT INTO orders_intents (order_id, user_id, status, created_at, retry_at)
             VALUES (?, ?, 'reserving', ?, ?)",
            &[
                Sql::Text(attempt.order_id.to_string()),
                Sql::Text(attempt.user_id.to_string()),
                Sql::Text(clock::rfc3339_from_millis(now)),
                Sql::Integer(attempt.lease_until),
            ],
        )
    };
    let Some((key, fingerprint)) = attempt.key else {
        // One statement is atomic on its own: no transaction, so the write lock is held for
        // one host call instead of three.
        record_intent(db)?;
        return Ok(KeyClaim::Proceed);
    };
    db.transaction(|db| match claim_key(db, attempt, key, fingerprint, now)? {
        KeyClaim::Proceed => {
            record_intent(db)?;
            Ok(KeyClaim::Proceed)
        }
        other => Ok(other),
    })
}

/// Claims `(user, key)` for this attempt inside the caller's transaction; the primary key
/// decides between racers. A claim still in progress after its lease belongs to a request
/// that stalled or died: it is taken over, and the stalled attempt's intent is marked for
/// release, so that it can no longer place its order.
fn claim_key(
    db: &Database,
    attempt: &Attempt<'_>,
    key: &str,
    fingerprint: &str,
    now: i64,
) -> Result<KeyClaim, Error> {
    let user = Sql::Text(attempt.user_id.to_string());
    let claimed = db.execute(
        "INSERT INTO orders_idempotency_keys
             (user_id, key, fingerprint, status, created_at, claimed_until, attempt)
         VALUES (?, ?, ?, 'in_progress', ?, ?, ?)
         ON CONFLICT (user_id, key) DO NOTHING RETURNING key",
        &[
            user.clone(),
            Sql::Text(key.into()),
            Sql::Text(fingerprint.into()),
            Sql::Text(clock::rfc3339_from_millis(now)),
            Sql::Integer(attempt.lease_until),
            Sql::Text(attempt.order_id.into()),
        ],
    )?;
    if !claimed.rows.is_empty() {
        return Ok(KeyClaim::Proceed);
    }
    let Some(stored) = db.query_one::<StoredKey>(
        "SELECT fingerprint, status, response_status, response_data, claimed_until, attempt
         FROM orders_idempotency_keys WHERE user_id = ? AND key = ?",
        &[user.clone(), Sql::Text(key.into())],
    )?
    else {
        return Ok(KeyClaim::InProgress);
    };
    if stored.fingerprint != fingerprint {
        return Ok(KeyClaim::Mismatch);
    }
    if stored.done {
        let status = stored
            .response_status
            .and_then(|status| u16::try_from(status).ok())
            .unwrap_or(201);
        let data = stored
            .response_data
            .and_then(|data| serde_json::from_str(&data).ok())
            .unwrap_or(Value::Null);
        return Ok(KeyClaim::Completed { status, data });
    }
    if stored.claimed_until > now {
        return Ok(KeyClaim::InProgress);
    }
    db.execute(
        "UPDATE orders_idempotency_keys SET claimed_until = ?, attempt = ?
         WHERE user_id = ? AND key = ?",
        &[
            Sql::Integer(attempt.lease_until),
            Sql::Text(attempt.order_id.into()),
            user,
            Sql::Text(key.into()),
        ],
    )?;
    if let Some(previous) = stored.attempt {
        // Due at once: the next pass gives the stalled attempt's stock back.
        db.execute(
            "UPDATE orders_intents SET status = 'releasing', retry_at = 0
             WHERE order_id = ? AND status = 'reserving'",
            &[Sql::Text(previous)],
        )?;
    }
    Ok(KeyClaim::Proceed)
}

/// An order to write, with the reservation already made.
#[derive(Debug)]
pub struct NewOrder<'a> {
    pub order_id: &'a str,
    pub user_id: &'a str,
    pub lines: &'a [PricedLine],
    pub total: Cents,
    pub address: &'a ShippingAddress,
    /// The `Idempotency-Key` this attempt claimed, completed in the same transaction.
    pub idempotency_key: Option<&'a str>,
}

/// Writes the order, its items, `order.created`, the end of its intent and the outcome of
/// its idempotency key in one transaction: after a crash, either all of them exist or none.
/// It commits only while the attempt still owns what it began with: an intent that a later
/// request has taken as abandoned (it is giving the stock back), or a key another request
/// took over, writes nothing and the caller releases the reservation.
pub fn write_order(db: &Database, new: &NewOrder<'_>) -> Result<OrderView, Error> {
    let now = clock::now_rfc3339();
    let view = OrderView {
        id: new.order_id.to_string(),
        order_id: new.order_id.to_string(),
        user_id: new.user_id.to_string(),
        status: OrderStatus::Pending,
        total_amount: new.total.to_json_number(),
        items: new.lines.iter().map(item_view).collect(),
        shipping_address: serde_json::to_value(new.address)
            .map_err(|error| StoreError::corrupt(DATABASE, error))?,
        created_at: now.clone(),
        updated_at: now.clone(),
        status_history: vec![StatusEntry {
            status: OrderStatus::Pending,
            at: now.clone(),
        }],
        cancel_reason: None,
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
        if let Some(key) = new.idempotency_key {
            let completed = db.execute(
                "UPDATE orders_idempotency_keys
                 SET status = 'done', response_status = 201, response_data = ?
                 WHERE user_id = ? AND key = ? AND attempt = ? AND status = 'in_progress'
                 RETURNING key",
                &[
                    Sql::Text(to_json_column(DATABASE, &view)?),
                    Sql::Text(new.user_id.into()),
                    Sql::Text(key.into()),
                    Sql::Text(new.order_id.into()),
                ],
            )?;
            if completed.rows.is_empty() {
                return Err(Error::KeyTakenOver {
                    order_id: new.order_id.to_string(),
                });
            }
        }
        db.execute(
            "INSERT INTO orders (id, user_id, status, total_cents, shipping_address, created_at,
                                 updated_at, status_history)
             VALUES (?, ?, 'pending', ?, ?, ?, ?, ?)",
            &[
                Sql::Text(new.order_id.to_string()),
                Sql::Text(new.user_id.to_string()),
                Sql::Integer(new.total.cents()),
                Sql::Text(view.shipping_address.to_string()),
                Sql::Text(now.clone()),
                Sql::Text(now.clone()),
                Sql::Text(to_json_column(DATABASE, &view.status_history)?),
            ],
        )?;
        for (position, line) in new.lines.iter().enumerate() {
            db.execute(
                "INSERT INTO orders_items (order_id, position, product_id, product_name, quantity,
                                           unit_price_cents, total_price_cents)
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
            Service::Orders,
            &EventPayload::OrderCreated(OrderCreated {
                order_id: new.order_id.to_string(),
                user_id: new.user_id.to_string(),
                total_amount: new.total.to_json_number(),
                item_count: new.lines.len(),
            }),
        )?;
        Ok(view.clone())
    })
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

/// Forgets a key whose attempt failed, so the client may retry with it; a key another
/// request has taken over since is left to that request.
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

/// Intents whose stock must go back now: attempts abandoned by a crash or a timeout (their
/// lease passed) and cancelled orders (due at once).
pub const RELEASE_DUE: &str = "status IN ('reserving', 'releasing') AND retry_at <= ?";

/// How many intents one pass releases at most.
pub const RELEASES_PER_PASS: i64 = 10;

struct Claimed(String);

impl FromRow for Claimed {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        Ok(Self(row.text("order_id")?))
    }
}

/// Takes up to a batch of intents due for release, marks them `releasing` (so their own
/// request can no longer place them) and holds them until `retry_at`; returns their order ids.
pub fn claim_releases(db: &Database, now_millis: i64, retry_at: i64) -> Result<Vec<String>, Error> {
    let claimed = db.claim(
        &store::Claim {
            table: "orders_intents",
            key: "order_id",
            due: "status IN ('reserving', 'releasing') AND retry_at <= ?1",
            order_by: "retry_at",
            limit: RELEASES_PER_PASS,
            set: "status = 'releasing', retry_at = ?2",
            returning: "order_id",
        },
        &[Sql::Integer(now_millis), Sql::Integer(retry_at)],
    )?;
    let claimed: Vec<Claimed> = db.read_rows(&claimed)?;
    Ok(claimed.into_iter().map(|Claimed(id)| id).collect())
}

/// What a status move came to.
#[derive(Debug)]
pub enum Moved {
    /// The order is in its new status.
    Done(OrderView),
    /// It was not in the status the move starts from (another move won the race): it is now
    /// in this one.
    Raced(OrderStatus),
    NotFound,
}

struct Transitioned {
    user_id: String,
    total_cents: i64,
}

impl FromRow for Transitioned {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            user_id: row.text("user_id")?,
            total_cents: row.integer("total_cents")?,
        })
    }
}

/// A move of one order's status.
#[derive(Debug, Clone, Copy)]
pub struct StatusMove<'a> {
    pub order_id: &'a str,
    pub from: OrderStatus,
    pub to: OrderStatus,
    /// Set when cancelling.
    pub reason: Option<CancelReason>,
    /// Orders created before this time are past their hold: a pending one may then only be
    /// cancelled (as expired), never confirmed, even if the expiry has not run yet.
    pub hold_cutoff: Option<&'a str>,
}

/// Applies `change` if the order is still in `change.from`, its event and history in the
/// same transaction; a cancellation also marks the order's stock for release (the caller
/// gives it back at once, and the release job if that fails).
pub fn move_status(db: &Database, change: StatusMove<'_>) -> Result<Moved, Error> {
    let StatusMove {
        order_id,
        from,
        to,
        reason,
        hold_cutoff,
    } = change;
    let now = clock::now_rfc3339();
    let mut parameters = vec![
        Sql::Text(to.as_str().to_string()),
        Sql::Text(now.clone()),
        reason.map_or(Sql::Null, |reason| Sql::Text(reason.as_str().to_string())),
        Sql::Text(order_id.to_string()),
        Sql::Text(from.as_str().to_string()),
    ];
    let within_hold = match hold_cutoff {
        Some(cutoff) if from == OrderStatus::Pending && to != OrderStatus::Cancelled => {
            parameters.push(Sql::Text(cutoff.to_string()));
            " AND created_at >= ?6"
        }
        _ => "",
    };
    let moved = db.transaction(|db| {
        let changed = db.query_one::<Transitioned>(
            &format!(
                "UPDATE orders SET status = ?1, updated_at = ?2, cancel_reason = ?3,
                     status_history = json_insert(status_history, '$[#]',
                                                  json_object('status', ?1, 'at', ?2))
                 WHERE id = ?4 AND status = ?5{within_hold}
                 RETURNING user_id, total_cents"
            ),
            &parameters,
        )?;
        let Some(changed) = changed else {
            return Ok::<_, Error>(false);
        };
        record_move(db, order_id, &changed, from, to, reason, &now)?;
        Ok(true)
    })?;
    let current = find_order(db, order_id)?;
    Ok(match (moved, current) {
        (_, None) => Moved::NotFound,
        (true, Some(order)) => Moved::Done(order),
        (false, Some(order)) => Moved::Raced(order.status),
    })
}

/// The event of a move, and for a cancellation the release of its stock.
fn record_move(
    db: &Database,
    order_id: &str,
    changed: &Transitioned,
    from: OrderStatus,
    to: OrderStatus,
    reason: Option<CancelReason>,
    now: &str,
) -> Result<(), Error> {
    let total_amount = Cents::from_cents(changed.total_cents).to_json_number();
    let payload = match (to, reason) {
        (OrderStatus::Cancelled, Some(reason)) => {
            release_later(db, order_id, &changed.user_id, now)?;
            EventPayload::OrderCancelled(OrderCancelled {
                order_id: order_id.to_string(),
                user_id: changed.user_id.clone(),
                total_amount,
                reason: reason.as_str().to_string(),
            })
        }
        _ => EventPayload::OrderStatusChanged(OrderStatusChanged {
            order_id: order_id.to_string(),
            user_id: changed.user_id.clone(),
            total_amount,
            from: from.as_str().to_string(),
            status: to.as_str().to_string(),
        }),
    };
    outbox::record(db, Service::Orders, &payload)?;
    Ok(())
}

/// Marks the order's reservation to be released (its intent may have been pruned long ago, so
/// it is made again if need be).
fn release_later(db: &Database, order_id: &str, user_id: &str, now: &str) -> Result<(), Error> {
    db.execute(
        "INSERT INTO orders_intents (order_id, user_id, status, created_at, retry_at)
         VALUES (?, ?, 'releasing', ?, 0)
         ON CONFLICT (order_id) DO UPDATE SET status = 'releasing', retry_at = 0",
        &[
            Sql::Text(order_id.to_string()),
            Sql::Text(user_id.to_string()),
            Sql::Text(now.to_string()),
        ],
    )?;
    Ok(())
}

struct Expired {
    id: String,
    user_id: String,
    total_cents: i64,
}

impl FromRow for Expired {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.text("id")?,
            user_id: row.text("user_id")?,
            total_cents: row.integer("total_cents")?,
        })
    }
}

/// The pending orders past their hold (created before `cutoff`).
pub const PAST_HOLD: &str = "status = 'pending' AND created_at < ?";

/// Cancels as expired up to `limit` pending orders created before `cutoff` (one user's, or
/// anyone's), with their events and releases, in one transaction; returns their ids.
pub fn expire_holds(
    db: &Database,
    cutoff: &str,
    owner: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, Error> {
    let now = clock::now_rfc3339();
    let (owned, mut parameters) = match owner {
        Some(owner) => (" AND user_id = ?", vec![Sql::Text(owner.to_string())]),
        None => ("", Vec::new()),
    };
    let mut all = vec![Sql::Text(now.clone()), Sql::Text(cutoff.to_string())];
    all.append(&mut parameters);
    db.transaction(|db| {
        let expired = db.query::<Expired>(
            &format!(
                "UPDATE orders SET status = 'cancelled', cancel_reason = 'expired', updated_at = ?1,
                     status_history = json_insert(status_history, '$[#]',
                                                  json_object('status', 'cancelled', 'at', ?1))
                 WHERE id IN (SELECT id FROM orders WHERE status = 'pending' AND created_at < ?2{owned}
                              ORDER BY created_at LIMIT {limit})
                 RETURNING id, user_id, total_cents"
            ),
            &all,
        )?;
        for order in &expired {
            record_move(
                db,
                &order.id,
                &Transitioned {
                    user_id: order.user_id.clone(),
                    total_cents: order.total_cents,
                },
                OrderStatus::Pending,
                OrderStatus::Cancelled,
                Some(CancelReason::Expired),
                &now,
            )?;
        }
        Ok(expired.into_iter().map(|order| order.id).collect())
    })
}

/// How long an idempotency key is remembered (the contract asks for at least 24 hours).
pub const IDEMPOTENCY_RETENTION_MILLIS: i64 = 48 * 60 * 60 * 1000;

/// Forgets a batch of idempotency keys older than their retention.
pub fn forget_old_keys(db: &Database, cutoff: &str) -> Result<(), Error> {
    db.execute(
        "DELETE FROM orders_idempotency_keys WHERE rowid IN (
             SELECT rowid FROM orders_idempotency_keys WHERE created_at < ? LIMIT 500)",
        &[Sql::Text(cutoff.to_string())],
    )?;
    Ok(())
}
