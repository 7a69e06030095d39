//! The order saga: placing an order across two services, and giving stock back.
//!
//! Placing: the attempt is recorded (its intent, with its `Idempotency-Key` claimed in the
//! same transaction), stock is reserved through the product service's private reservation
//! endpoint (names and prices come from there), then the order, its `order.created` event,
//! the intent's end and the key's outcome are written in one transaction, which commits only
//! while the attempt still owns its intent and its key. Any failure after the reservation
//! releases it. A crash anywhere leaves an open intent, released after its lease by the work
//! that follows later responses ([`ReleaseIntents`]), so no stock stays taken by an order
//! that does not exist.
//!
//! Giving back: a cancelled order (by its owner, an admin, or its hold passing,
//! [`ExpireHolds`]) marks its intent for release in the same transaction as the
//! cancellation; the release is tried at once and, if the product service cannot take it,
//! again after later responses. Releases are idempotent at the product service, so stock
//! comes back exactly once.

use std::time::Duration;

use contracts::reservations::{
    RESERVE_PATH, Reservation, ReservationLine, ReservationRequest, release_path,
};
use envelope::ErrorCode;
use http_service::{ApiError, Job, JobContext, JobFuture};
use platform::variables::names::ORDER_HOLD_MINUTES;
use platform::{Logger, Service, Variables, clock};
use serde_json::json;
use service_client::{Caller, ServiceClient, chain_timeout, upstream_timeout};
use spin_sdk::http::Method;
use store::{Check, Database, Value};

use crate::domain::{Hold, OrderRequest, price_lines};
use crate::error::Error;
use crate::storage::{self, Attempt, KeyClaim, NewOrder, OrderView, PAST_HOLD, RELEASE_DUE};

/// What the saga works with, from a request or from the work after one.
#[derive(Clone, Copy)]
pub struct Saga<'a> {
    pub db: &'a Database,
    pub caller: Caller<'a>,
    pub logger: &'a Logger,
}

impl Saga<'_> {
    fn products(&self) -> ServiceClient {
        ServiceClient::to(
            Service::Products,
            self.caller.variables,
            upstream_timeout(self.caller.variables),
        )
    }
}

/// How long an order attempt may take before a later request treats it as abandoned and
/// gives its stock back: a chain of calls (the reservation, its release, slack). An attempt
/// still running then is refused at the end instead of placed.
pub fn intent_lease(variables: &Variables) -> Duration {
    chain_timeout(variables)
}

/// The hold of pending orders, from `order_hold_minutes`.
pub fn hold(variables: &Variables) -> Hold {
    Hold::from_minutes(variables.u64(ORDER_HOLD_MINUTES))
}

/// Why a reservation did not happen.
enum NotReserved {
    /// The product service answered no: nothing was reserved.
    Refused(ApiError),
    /// No clear answer (a timeout, a 5xx): something may have been reserved.
    Unknown(ApiError),
}

/// Reserves every line of the order at the product service.
async fn reserve(saga: Saga<'_>, request: &ReservationRequest) -> Result<Reservation, NotReserved> {
    let products = saga.products();
    let body = serde_json::to_vec(request)
        .map_err(|error| NotReserved::Refused(ApiError::internal(error)))?;
    let answer = products
        .send(saga.caller, Method::Post, RESERVE_PATH, &[], Some(body))
        .await
        .map_err(|error| NotReserved::Unknown(error.into()))?;
    if answer.is_success() {
        return answer
            .data::<Reservation>()
            .map_err(|error| NotReserved::Unknown(error.into()));
    }
    let error = ApiError::from_upstream(&answer);
    match error.code {
        // An unknown or withdrawn product is the client's mistake in the order's items.
        ErrorCode::NotFound => Err(NotReserved::Refused(ApiError::validation(
            "Unknown product",
            error.details.unwrap_or(json!({})),
        ))),
        ErrorCode::InsufficientStock => Err(NotReserved::Refused(error)),
        // The order was released as abandoned before its reservation arrived (a tombstone).
        ErrorCode::Conflict => Err(NotReserved::Refused(
            Error::AttemptCancelled {
                order_id: request.order_id.clone(),
            }
            .into(),
        )),
        // Anything else (a 5xx, our own credentials refused) is the product service's
        // problem, not the client's: it is logged, and the client sees a 502.
        _ => Err(NotReserved::Unknown(ApiError::bad_gateway(
            products.service,
            format!("{} {}", answer.status, error),
        ))),
    }
}

/// Marks `order_id`'s attempt done without an order; a failure is logged (a later pass
/// releases the attempt again, which changes nothing).
fn close_intent_logged(saga: Saga<'_>, order_id: &str) {
    if let Err(error) = storage::close_intent(saga.db, order_id) {
        saga.logger.error(
            "could not close an order intent",
            json!({ "orderId": order_id, "cause": error.to_string() }),
        );
    }
}

/// Gives the reservation of `order_id` back (or leaves a tombstone if there was none) and
/// closes its intent; `true` when done. If the release fails the intent stays open, and a
/// later pass releases it.
pub async fn release(saga: Saga<'_>, order_id: &str) -> bool {
    let outcome = saga
        .products()
        .send(
            saga.caller,
            Method::Post,
            &release_path(order_id),
            &[],
            None,
        )
        .await;
    match outcome {
        Ok(answer) if answer.is_success() => {
            close_intent_logged(saga, order_id);
            true
        }
        outcome => {
            saga.logger.error(
                "could not release a reservation; a later pass will retry",
                json!({ "orderId": order_id, "outcome": format!("{:?}", outcome.map(|a| a.status)) }),
            );
            false
        }
    }
}

/// What placing an order came to.
pub enum Placed {
    Created(OrderView),
    /// The same `Idempotency-Key` and body completed before: its status and data.
    Replayed {
        status: u16,
        data: serde_json::Value,
    },
}

/// One order attempt by `user_id`, with its optional `(key, fingerprint)`.
pub struct Order<'a> {
    pub user_id: &'a str,
    pub request: OrderRequest,
    pub key: Option<(&'a str, &'a str)>,
}

/// Places an order (see the module's description).
pub async fn place(saga: Saga<'_>, order: Order<'_>) -> Result<Placed, ApiError> {
    let order_id = format!("ord_{}", uuid::Uuid::new_v4().simple());
    let lease_until = clock::millis_from_now(intent_lease(saga.caller.variables));
    let attempt = Attempt {
        order_id: &order_id,
        user_id: order.user_id,
        key: order.key,
        lease_until,
    };
    match storage::begin_attempt(saga.db, &attempt)? {
        KeyClaim::Proceed => {}
        KeyClaim::Completed { status, data } => return Ok(Placed::Replayed { status, data }),
        KeyClaim::InProgress => {
            return Err(ApiError::conflict(
                "A request with this Idempotency-Key is still in progress",
            ));
        }
        KeyClaim::Mismatch => {
            return Err(ApiError::unprocessable(
                "This Idempotency-Key was used with a different request body",
            ));
        }
    }
    let placed = reserve_and_write(saga, &order, &order_id).await;
    if placed.is_err()
        && let Some((key, _)) = order.key
        && let Err(error) = storage::abandon_key(saga.db, order.user_id, key, &order_id)
    {
        saga.logger.error(
            "could not free the idempotency key of a failed order",
            json!({ "cause": error.to_string() }),
        );
    }
    placed.map(Placed::Created)
}

async fn reserve_and_write(
    saga: Saga<'_>,
    order: &Order<'_>,
    order_id: &str,
) -> Result<OrderView, ApiError> {
    let request = ReservationRequest {
        order_id: order_id.to_string(),
        items: order
            .request
            .lines
            .iter()
            .map(|line| ReservationLine {
                product_id: line.product_id.clone(),
                quantity: line.quantity,
            })
            .collect(),
    };
    let reservation = match reserve(saga, &request).await {
        Ok(reservation) => reservation,
        Err(NotReserved::Refused(error)) => {
            close_intent_logged(saga, order_id);
            return Err(error);
        }
        Err(NotReserved::Unknown(error)) => {
            // The reservation may have committed before the failure: undo it if so.
            release(saga, order_id).await;
            return Err(error);
        }
    };
    let written = price_lines(&reservation.items)
        .ok_or_else(|| ApiError::unprocessable("Order total is too large"))
        .and_then(|(lines, total)| {
            storage::write_order(
                saga.db,
                &NewOrder {
                    order_id,
                    user_id: order.user_id,
                    lines: &lines,
                    total,
                    address: &order.request.shipping_address,
                    idempotency_key: order.key.map(|(key, _)| key),
                },
            )
            .map_err(ApiError::from)
        });
    if written.is_err() {
        release(saga, order_id).await;
    }
    written
}

/// Orders one expiry pass cancels at most.
const EXPIRED_PER_PASS: i64 = 20;

/// Cancels as expired the pending orders past their hold (one user's, or anyone's, a batch)
/// and gives their stock back; the ones whose release fails are left to the release job.
pub async fn expire_due(saga: Saga<'_>, owner: Option<&str>) -> Result<(), ApiError> {
    let Some(cutoff) = hold(saga.caller.variables).cutoff(clock::now_millis()) else {
        return Ok(());
    };
    let expired = storage::expire_holds(saga.db, &cutoff, owner, EXPIRED_PER_PASS)?;
    for order_id in expired {
        saga.logger.info(
            "cancelled an order whose hold passed",
            json!({ "orderId": order_id }),
        );
        release(saga, &order_id).await;
    }
    Ok(())
}

/// Whether pending orders past their hold are waiting (one user's, or anyone's).
pub fn holds_passed(
    db: &Database,
    variables: &Variables,
    owner: Option<&str>,
) -> Result<bool, ApiError> {
    let Some(cutoff) = hold(variables).cutoff(clock::now_millis()) else {
        return Ok(false);
    };
    let mut parameters = vec![Value::Text(cutoff)];
    let condition = match owner {
        Some(owner) => {
            parameters.push(Value::Text(owner.to_string()));
            format!("{PAST_HOLD} AND user_id = ?")
        }
        None => PAST_HOLD.to_string(),
    };
    Ok(db.any("orders", &condition, &parameters)?)
}

/// The saga of the work after a response, on the database its check was asked on.
fn saga_of<'a>(ctx: &'a JobContext, db: &'a Database) -> Saga<'a> {
    Saga {
        db,
        caller: ctx.caller(),
        logger: ctx.logger(),
    }
}

/// Cancels pending orders whose hold passed, after every response that finds some.
#[derive(Debug, Clone, Copy)]
pub struct ExpireHolds;

impl Job for ExpireHolds {
    fn name(&self) -> &'static str {
        "expire order holds"
    }

    fn check(&self, ctx: &JobContext) -> Option<Check> {
        let cutoff = hold(ctx.variables()).cutoff(clock::now_millis())?;
        Some(Check::any("orders", PAST_HOLD, vec![Value::Text(cutoff)]))
    }

    fn run<'a>(&'a self, ctx: &'a JobContext, db: &'a Database) -> JobFuture<'a> {
        Box::pin(async move {
            if let Err(error) = expire_due(saga_of(ctx, db), None).await {
                ctx.logger().error(
                    "could not expire order holds",
                    json!({ "cause": error.to_string() }),
                );
            }
        })
    }
}

/// Gives back the stock of attempts abandoned by a crash or a timeout, and of cancelled
/// orders whose release failed, after every response that finds some.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseIntents;

impl Job for ReleaseIntents {
    fn name(&self) -> &'static str {
        "release abandoned and cancelled reservations"
    }

    fn check(&self, _ctx: &JobContext) -> Option<Check> {
        Some(Check::any(
            "orders_intents",
            RELEASE_DUE,
            vec![Value::Integer(clock::now_millis())],
        ))
    }

    fn run<'a>(&'a self, ctx: &'a JobContext, db: &'a Database) -> JobFuture<'a> {
        Box::pin(async move {
            let saga = saga_of(ctx, db);
            let retry_at = clock::millis_from_now(intent_lease(ctx.variables()));
            match storage::claim_releases(saga.db, clock::now_millis(), retry_at) {
                Ok(order_ids) => {
                    for order_id in order_ids {
                        ctx.logger().warn(
                            "releasing the stock of an abandoned or cancelled order",
                            json!({ "orderId": order_id }),
                        );
                        release(saga, &order_id).await;
                    }
                }
                Err(error) => ctx.logger().error(
                    "could not look for stock to release",
                    json!({ "cause": error.to_string() }),
                ),
            }
        })
    }
}

/// Forgets idempotency keys older than their retention (48 hours).
#[derive(Debug, Clone, Copy)]
pub struct ForgetOldKeys;

fn keys_cutoff() -> String {
    clock::rfc3339_from_millis(clock::now_millis() - storage::IDEMPOTENCY_RETENTION_MILLIS)
}

impl Job for ForgetOldKeys {
    fn name(&self) -> &'static str {
        "forget old idempotency keys"
    }

    fn check(&self, _ctx: &JobContext) -> Option<Check> {
        Some(Check::any(
            "orders_idempotency_keys",
            "created_at < ?",
            vec![Value::Text(keys_cutoff())],
        ))
    }

    fn run<'a>(&'a self, ctx: &'a JobContext, db: &'a Database) -> JobFuture<'a> {
        Box::pin(async move {
            if let Err(error) = storage::forget_old_keys(db, &keys_cutoff()) {
                ctx.logger().warn(
                    "could not forget old idempotency keys",
                    json!({ "cause": error.to_string() }),
                );
            }
        })
    }
}
