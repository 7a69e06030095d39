//! Order-service handlers.

use std::rc::Rc;
use std::time::Duration;

use envelope::ErrorCode;
use response_handler::{
    ApiError, ApiResult, Identity, PageRequest, Params, Query, Reply, RequestContext, pagination,
};
use serde::Deserialize;
use serde_json::json;
use service_client::{ServiceClient, upstream_error};
use spin_sdk::http::{Method, Request};

use crate::domain::{OrderRequest, body_fingerprint, parse_idempotency_key, price_lines};
use crate::schema;
use crate::storage::{self, KeyClaim, OrderView};

/// `GET /health`: healthy when the service's database answers.
pub async fn health(ctx: Rc<RequestContext>, _request: Request, _params: Params) -> ApiResult {
    store::health_reply(ctx.config.name, schema::open().and_then(|db| db.ping()))
}

fn product_service() -> ServiceClient {
    let millis = spin_sdk::variables::get("upstream_timeout_ms")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|m| *m > 0)
        .unwrap_or(5000);
    ServiceClient::from_variable(
        "product-service",
        "product_service_url",
        Duration::from_millis(millis),
    )
}

/// What the product service answers to a reservation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reserved {
    items: Vec<ReservedItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReservedItem {
    product_id: String,
    product_name: String,
    quantity: i64,
    unit_price_cents: i64,
}

/// Gives the reservation of `order_id` back; logged if even that fails.
async fn release(ctx: &RequestContext, products: &ServiceClient, order_id: &str) {
    let path = format!("/reservations/{order_id}/release");
    match products.send(ctx, Method::Post, &path, &[], None).await {
        Ok(answer) if answer.is_success() => {}
        outcome => ctx.logger.error(
            "could not release a reservation; stock stays held for this order",
            json!({ "orderId": order_id, "outcome": format!("{:?}", outcome.map(|a| a.status)) }),
        ),
    }
}

/// Reserves stock (prices and names come from the product service), then writes the order.
/// Any failure after the reservation releases it, so no stock is lost.
async fn place_order(
    ctx: &RequestContext,
    identity: &Identity,
    order: OrderRequest,
) -> Result<OrderView, ApiError> {
    let order_id = format!("ord_{}", uuid::Uuid::new_v4().simple());
    let products = product_service();
    let body = json!({ "orderId": order_id, "items": order.lines })
        .to_string()
        .into_bytes();
    let answer = match products
        .send(ctx, Method::Post, "/reservations", &[], Some(body))
        .await
    {
        Ok(answer) => answer,
        Err(error) => {
            // The reservation may have committed before the failure: undo it if so.
            release(ctx, &products, &order_id).await;
            return Err(error);
        }
    };
    if !answer.is_success() {
        let error = upstream_error("product-service", &answer);
        return Err(match error.code {
            ErrorCode::NotFound => {
                ApiError::validation("Unknown product", error.details.unwrap_or(json!({})))
            }
            _ => error,
        });
    }
    let written = async {
        let reserved: Reserved = answer.data("product-service")?;
        let tuples: Vec<_> = reserved
            .items
            .into_iter()
            .map(|item| {
                (
                    item.product_id,
                    item.product_name,
                    item.quantity,
                    item.unit_price_cents,
                )
            })
            .collect();
        let (lines, total) = price_lines(&tuples)
            .ok_or_else(|| ApiError::unprocessable("Order total is too large"))?;
        let db = schema::open()?;
        storage::insert_order(
            &db,
            &order_id,
            &identity.user_id,
            &lines,
            total,
            &order.shipping_address,
        )
    }
    .await;
    if written.is_err() {
        release(ctx, &products, &order_id).await;
    }
    written
}

/// `POST /orders`: all or nothing, exact cents, optional `Idempotency-Key`.
pub async fn create(ctx: Rc<RequestContext>, _request: Request, _params: Params) -> ApiResult {
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
    if let Some(key) = &key {
        match storage::claim_key(&db, &identity.user_id, key, &body_fingerprint(body))? {
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
    let placed = place_order(&ctx, &identity, order).await;
    if let Some(key) = &key {
        let recorded = match &placed {
            Ok(view) => serde_json::to_value(view)
                .map_err(ApiError::internal)
                .and_then(|data| storage::complete_key(&db, &identity.user_id, key, 201, &data)),
            Err(_) => storage::abandon_key(&db, &identity.user_id, key),
        };
        if let Err(error) = recorded {
            ctx.logger.error(
                "could not record the idempotency key outcome",
                json!({ "cause": error.to_string() }),
            );
        }
    }
    let view = placed?;
    let ctx_for_work = ctx.clone();
    ctx.after_response(async move {
        if let Ok(db) = schema::open() {
            outbox::deliver_pending(&ctx_for_work, &db).await;
        }
    });
    Ok(Reply::created(&view, "Order created successfully"))
}

/// `GET /orders`: the caller's orders, newest first.
pub async fn list(ctx: Rc<RequestContext>, request: Request, _params: Params) -> ApiResult {
    let identity = ctx.identity()?;
    let page = PageRequest::parse(&Query::from_uri(request.uri()), 20, 100)?;
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
pub async fn get(ctx: Rc<RequestContext>, _request: Request, params: Params) -> ApiResult {
    let identity = ctx.identity()?;
    let id = params.get("id").unwrap_or_default();
    let db = schema::open()?;
    match storage::find_order(&db, id)? {
        Some(order) if identity.owns_or_admin(&order.user_id) => {
            Ok(Reply::ok(&order, "Order retrieved successfully"))
        }
        _ => Err(ApiError::not_found("Order not found").with_details(json!({ "orderId": id }))),
    }
}
