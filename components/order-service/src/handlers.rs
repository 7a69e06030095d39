//! Order-service handlers.

use std::rc::Rc;
use std::time::Duration;

use contracts::reservations::{
    RESERVE_PATH, Reservation, ReservationLine, ReservationRequest, release_path,
};
use envelope::ErrorCode;
use response_handler::{
    ApiError, ApiResult, Identity, PageRequest, Reply, RequestContext, pagination,
};
use serde_json::json;
use service_client::{ServiceClient, upstream_error};
use spin_sdk::http::Method;
use store::Database;

use crate::domain::{OrderRequest, body_fingerprint, parse_idempotency_key, price_lines};
use crate::error::Error;
use crate::schema;
use crate::storage::{self, KeyClaim, OrderView};

/// `GET /health`: healthy when the service's database answers. Probes call it even when
/// no client does, so it also releases abandoned order attempts.
pub async fn health(ctx: Rc<RequestContext>) -> ApiResult {
    release_abandoned_later(&ctx);
    outbox::health_reply(ctx.config.name, schema::open())
}

fn product_service() -> ServiceClient {
    ServiceClient::from_variable(
        "product-service",
        "product_service_url",
        service_client::upstream_timeout(),
    )
}

/// How long an order attempt may take before a later request treats it as abandoned and
/// gives its stock back: three upstream timeouts (the reservation, its release, slack) and a
/// second. An attempt still running then is refused at the end instead of placed.
fn intent_lease() -> Duration {
    service_client::upstream_timeout() * 3 + Duration::from_secs(1)
}

fn millis_from_now(duration: Duration) -> i64 {
    envelope::now_millis().saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
}

/// Why a reservation did not happen.
enum NotReserved {
    /// The product service answered no: nothing was reserved.
    Refused(ApiError),
    /// No clear answer (a timeout, a 5xx): something may have been reserved.
    Unknown(ApiError),
}

/// Reserves every line of the order at the product service.
async fn reserve(
    ctx: &RequestContext,
    products: &ServiceClient,
    request: &ReservationRequest,
) -> Result<Reservation, NotReserved> {
    let body = serde_json::to_vec(request)
        .map_err(|error| NotReserved::Refused(ApiError::internal(error)))?;
    let answer = products
        .send(ctx, Method::Post, RESERVE_PATH, &[], Some(body))
        .await
        .map_err(NotReserved::Unknown)?;
    if answer.is_success() {
        return answer
            .data::<Reservation>(products.service)
            .map_err(NotReserved::Unknown);
    }
    let error = upstream_error(products.service, &answer);
    match error.code {
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

/// Marks `order_id`'s attempt done without an order; a failure is logged (a later request
/// releases the attempt again, which changes nothing).
fn close_intent_logged(ctx: &RequestContext, db: &Database, order_id: &str) {
    if let Err(error) = storage::close_intent(db, order_id) {
        ctx.logger.error(
            "could not close an order intent",
            json!({ "orderId": order_id, "cause": error.to_string() }),
        );
    }
}

/// Gives the reservation of `order_id` back (or leaves a tombstone if there was none) and
/// closes its intent. If the release fails the intent stays open, and a later request
/// releases it.
async fn release_and_close(
    ctx: &RequestContext,
    db: &Database,
    products: &ServiceClient,
    order_id: &str,
) {
    let released = match products
        .send(ctx, Method::Post, &release_path(order_id), &[], None)
        .await
    {
        Ok(answer) if answer.is_success() => true,
        outcome => {
            ctx.logger.error(
                "could not release a reservation; a later request will retry",
                json!({ "orderId": order_id, "outcome": format!("{:?}", outcome.map(|a| a.status)) }),
            );
            false
        }
    };
    if released {
        close_intent_logged(ctx, db, order_id);
    }
}

/// Places an order as a saga: the intent is recorded first, then stock is reserved (names
/// and prices come from the product service), then the order, its `order.created` event, the
/// intent's end and the idempotency key's outcome are written in one transaction. Any
/// failure after the reservation gives it back. A crash anywhere leaves an open intent,
/// which a later request releases ([`release_abandoned_later`]), so no stock stays taken by
/// an order that does not exist.
async fn place_order(
    ctx: &RequestContext,
    db: &Database,
    identity: &Identity,
    order: OrderRequest,
    order_id: &str,
    key: Option<&str>,
) -> Result<OrderView, ApiError> {
    let order_id = order_id.to_string();
    let products = product_service();
    storage::open_intent(
        db,
        &order_id,
        &identity.user_id,
        millis_from_now(intent_lease()),
    )?;
    let request = ReservationRequest {
        order_id: order_id.clone(),
        items: order
            .lines
            .iter()
            .map(|line| ReservationLine {
                product_id: line.product_id.clone(),
                quantity: line.quantity,
            })
            .collect(),
    };
    let reservation = match reserve(ctx, &products, &request).await {
        Ok(reservation) => reservation,
        Err(NotReserved::Refused(error)) => {
            close_intent_logged(ctx, db, &order_id);
            return Err(error);
        }
        Err(NotReserved::Unknown(error)) => {
            // The reservation may have committed before the failure: undo it if so.
            release_and_close(ctx, db, &products, &order_id).await;
            return Err(error);
        }
    };
    let written = price_lines(&reservation.items)
        .ok_or_else(|| ApiError::unprocessable("Order total is too large"))
        .and_then(|(lines, total)| {
            storage::insert_order(
                db,
                &storage::NewOrder {
                    order_id: &order_id,
                    user_id: &identity.user_id,
                    lines: &lines,
                    total,
                    address: &order.shipping_address,
                    idempotency_key: key,
                },
            )
            .map_err(ApiError::from)
        });
    if written.is_err() {
        release_and_close(ctx, db, &products, &order_id).await;
    }
    written
}

/// After the response: gives back the stock of order attempts abandoned by a crash or a
/// timeout (a few per request), delivers pending events, and deletes a batch of closed
/// attempts past the retention period.
fn release_abandoned_later(ctx: &Rc<RequestContext>) {
    let ctx_for_work = ctx.clone();
    ctx.after_response(async move {
        let ctx = ctx_for_work;
        let Ok(db) = schema::open() else {
            return;
        };
        let now = envelope::now_millis();
        match storage::claim_abandoned_intents(&db, now, millis_from_now(intent_lease())) {
            Ok(abandoned) => {
                let products = product_service();
                for order_id in abandoned {
                    ctx.logger.warn(
                        "releasing the stock of an abandoned order attempt",
                        json!({ "orderId": order_id }),
                    );
                    release_and_close(&ctx, &db, &products, &order_id).await;
                }
            }
            Err(error) => ctx.logger.error(
                "could not look for abandoned order attempts",
                json!({ "cause": error.to_string() }),
            ),
        }
        outbox::deliver_pending(&ctx, &db).await;
        outbox::prune_expired(&ctx, &db, &[schema::CLOSED_INTENTS]);
    });
}

/// `POST /orders`: all or nothing, exact cents, optional `Idempotency-Key`.
pub async fn create(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    let body = ctx.json()?;
    let order = OrderRequest::parse(body)?;
    let key = match ctx.header("idempotency-key") {
        None => None,
        Some(raw) => Some(parse_idempotency_key(raw).map_err(|reason| {
            ApiError::validation(
                "Invalid Idempotency-Key header",
                json!({ "invalidFields": { "Idempotency-Key": reason } }),
            )
        })?),
    };
    let db = schema::open()?;
    release_abandoned_later(&ctx);
    let order_id = format!("ord_{}", uuid::Uuid::new_v4().simple());
    if let Some(key) = &key {
        let claim = storage::claim_key(
            &db,
            &identity.user_id,
            key,
            &body_fingerprint(body),
            &order_id,
            millis_from_now(intent_lease()),
        )?;
        match claim {
            KeyClaim::Claimed => {}
            KeyClaim::Completed { status, data } => {
                return Ok(Reply::ok(&data, "Order created successfully")
                    .status(status)
                    .header("idempotent-replayed", "true"));
            }
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
    }
    let placed = place_order(&ctx, &db, &identity, order, &order_id, key.as_deref()).await;
    if placed.is_err()
        && let Some(key) = &key
        && let Err(error) = storage::abandon_key(&db, &identity.user_id, key, &order_id)
    {
        ctx.logger.error(
            "could not free the idempotency key of a failed order",
            json!({ "cause": error.to_string() }),
        );
    }
    Ok(Reply::created(&placed?, "Order created successfully"))
}

/// `GET /orders`: the caller's orders, newest first.
pub async fn list(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    release_abandoned_later(&ctx);
    let page = PageRequest::parse(ctx.query(), 20, 100)?;
    let db = schema::open()?;
    let (orders, total) = storage::list_orders(&db, &identity.user_id, page)?;
    Ok(Reply::paginated(
        &orders,
        pagination(page.page, page.limit, total),
        "Orders retrieved successfully",
    ))
}

/// `GET /orders/:id`: the owner's or an admin's; anyone else gets the same 404 as for a
/// missing order, so order ids cannot be probed.
pub async fn get(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    let id = ctx.param("id");
    let db = schema::open()?;
    match storage::find_order(&db, id)? {
        Some(order) if identity.owns_or_admin(&order.user_id) => {
            Ok(Reply::ok(&order, "Order retrieved successfully"))
        }
        _ => Err(ApiError::not_found("Order not found").with_details(json!({ "orderId": id }))),
    }
}
