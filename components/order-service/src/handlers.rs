//! Order-service handlers: parse, check who may, run the saga or a move, answer.

use std::rc::Rc;

use auth::Identity;
use http_service::{ApiError, ApiResult, Reply, RequestContext, page_from};
use serde_json::json;

use crate::domain::{
    CancelReason, ListQuery, OrderRequest, OrderStatus, StatusMove, body_fingerprint,
    parse_idempotency_key, refused_move,
};
use crate::saga::{self, Order, Placed, Saga};
use crate::storage::{self, Moved, OrderView};

fn saga_for(ctx: &RequestContext) -> Result<Saga<'_>, ApiError> {
    Ok(Saga {
        db: ctx.db()?,
        caller: ctx.caller(),
        logger: ctx.logger(),
    })
}

/// `POST /api/orders`: all or nothing, exact cents, optional `Idempotency-Key`.
pub async fn create(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    let body = ctx.json()?;
    let request = OrderRequest::parse(body)?;
    let key = match ctx.header("idempotency-key") {
        None => None,
        Some(raw) => Some(parse_idempotency_key(raw).map_err(|reason| {
            ApiError::validation(
                "Invalid Idempotency-Key header",
                json!({ "invalidFields": { "Idempotency-Key": reason } }),
            )
        })?),
    };
    let fingerprint = body_fingerprint(body);
    let order = Order {
        user_id: &identity.user_id,
        request,
        key: key.as_deref().map(|key| (key, fingerprint.as_str())),
    };
    match saga::place(saga_for(&ctx)?, order).await? {
        Placed::Created(order) => Ok(Reply::created(&order, "Order created successfully")),
        Placed::Replayed { status, data } => Ok(Reply::ok(&data, "Order created successfully")
            .status(status)
            .header("idempotent-replayed", "true")),
    }
}

/// `GET /api/orders`: the caller's orders, or with `all=true` everyone's (admins only),
/// newest first, optionally of one `status`. Holds that passed are expired first, so no
/// order shows `pending` past its hold.
pub async fn list(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    let page = page_from(ctx.query(), 20, 100)?;
    let query = ListQuery::parse(ctx.query())?;
    if query.all && !identity.is_admin() {
        return Err(ApiError::forbidden(
            "Admin role required to list every order",
        ));
    }
    let owner = (!query.all).then_some(identity.user_id.as_str());
    let db = ctx.db()?;
    if saga::holds_passed(db, ctx.variables(), owner)? {
        saga::expire_due(saga_for(&ctx)?, owner).await?;
    }
    let (orders, total) = storage::list_orders(db, owner, query.status, page)?;
    Ok(Reply::page(
        &orders,
        page,
        total,
        "Orders retrieved successfully",
    ))
}

/// The order `id` if `identity` may see it (its owner or an admin), with its hold applied;
/// anyone else gets the same 404 as for a missing order, so order ids cannot be probed.
async fn visible_order(
    ctx: &RequestContext,
    identity: &Identity,
    id: &str,
) -> Result<OrderView, ApiError> {
    let not_found =
        || ApiError::not_found("Order not found").with_details(json!({ "orderId": id }));
    let db = ctx.db()?;
    let order = storage::find_order(db, id)?
        .filter(|order| identity.owns_or_admin(&order.user_id))
        .ok_or_else(not_found)?;
    if order.status != OrderStatus::Pending
        || !saga::holds_passed(db, ctx.variables(), Some(&order.user_id))?
    {
        return Ok(order);
    }
    saga::expire_due(saga_for(ctx)?, Some(&order.user_id)).await?;
    storage::find_order(db, id)?.ok_or_else(not_found)
}

/// `GET /api/orders/:id`: the owner's or an admin's.
pub async fn get(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    let order = visible_order(&ctx, &identity, ctx.param("id")).await?;
    Ok(Reply::ok(&order, "Order retrieved successfully"))
}

/// Moves `order` to `to` if the lifecycle allows it, giving its stock back when cancelled.
/// A move that loses a race is judged again against the status that won.
async fn apply_move(
    ctx: &RequestContext,
    mut order: OrderView,
    to: OrderStatus,
    reason: Option<CancelReason>,
) -> Result<OrderView, ApiError> {
    let hold_cutoff = saga::hold(ctx.variables()).cutoff(platform::clock::now_millis());
    loop {
        if to == OrderStatus::Cancelled && order.status == OrderStatus::Cancelled {
            return Ok(order);
        }
        if !order.status.can_move_to(to) {
            return Err(refused_move(order.status, to));
        }
        let moved = storage::move_status(
            ctx.db()?,
            storage::StatusMove {
                order_id: &order.id,
                from: order.status,
                to,
                reason,
                hold_cutoff: hold_cutoff.as_deref(),
            },
        )?;
        match moved {
            Moved::Done(done) => {
                if to == OrderStatus::Cancelled {
                    saga::release(saga_for(ctx)?, &done.id).await;
                }
                return Ok(done);
            }
            Moved::Raced(OrderStatus::Pending) => {
                // Still pending, so the move failed on the hold: the order has expired.
                saga::expire_due(saga_for(ctx)?, Some(&order.user_id)).await?;
                order = storage::find_order(ctx.db()?, &order.id)?
                    .ok_or_else(|| ApiError::not_found("Order not found"))?;
            }
            Moved::Raced(_) => {
                order = storage::find_order(ctx.db()?, &order.id)?
                    .ok_or_else(|| ApiError::not_found("Order not found"))?;
            }
            Moved::NotFound => return Err(ApiError::not_found("Order not found")),
        }
    }
}

/// `POST /api/orders/:id/cancel` (owner or admin): cancelled, its stock back exactly once;
/// cancelling a cancelled order changes nothing; a shipped or delivered one is 409.
pub async fn cancel(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    let order = visible_order(&ctx, &identity, ctx.param("id")).await?;
    let reason = if order.user_id == identity.user_id {
        CancelReason::Customer
    } else {
        CancelReason::Admin
    };
    let order = apply_move(&ctx, order, OrderStatus::Cancelled, Some(reason)).await?;
    Ok(Reply::ok(&order, "Order cancelled"))
}

/// `PATCH /api/orders/:id/status` (admin): `{status}`, one move of the lifecycle.
pub async fn move_status(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.admin()?;
    let requested = StatusMove::parse(ctx.json()?)?;
    let order = visible_order(&ctx, &identity, ctx.param("id")).await?;
    let reason = (requested.to == OrderStatus::Cancelled).then_some(CancelReason::Admin);
    let order = apply_move(&ctx, order, requested.to, reason).await?;
    Ok(Reply::ok(&order, "Order status updated"))
}
