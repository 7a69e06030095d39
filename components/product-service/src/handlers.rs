//! Product-service handlers: parse, check who may, call storage, answer.

use std::rc::Rc;

use http_service::{ApiError, ApiResult, Reply, RequestContext, page_from};
use platform::Service;
use serde_json::json;

use crate::domain::{ListQuery, NewProduct, ProductChange, ReservationRequest, StockChange};
use crate::storage;

/// The services that may reserve and release stock (private endpoints).
const RESERVING_SERVICES: &[Service] = &[Service::Orders];

/// `GET /api/products`: filtered, searched, paginated; inactive products only for an admin
/// who asks (`includeInactive=true`; anyone else asking gets 403).
pub async fn list(ctx: Rc<RequestContext>) -> ApiResult {
    let page = page_from(ctx.query(), 20, 100)?;
    let query = ListQuery::parse(ctx.query())?;
    // The contract: an admin sees withdrawn products; anyone else asking, token or not,
    // gets 403.
    if query.include_inactive && !ctx.identity().is_ok_and(|identity| identity.is_admin()) {
        return Err(ApiError::forbidden(
            "Only an admin may list inactive products",
        ));
    }
    let (products, total) = storage::list(ctx.db()?, &query, page)?;
    Ok(Reply::page(
        &products,
        page,
        total,
        "Products retrieved successfully",
    ))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("Product not found").with_details(json!({ "productId": id }))
}

/// `GET /api/products/:id`: active or not (a withdrawn product still has a page).
pub async fn get(ctx: Rc<RequestContext>) -> ApiResult {
    let id = ctx.param("id");
    let product = storage::find(ctx.db()?, id)?.ok_or_else(|| not_found(id))?;
    Ok(Reply::ok(&product, "Product retrieved successfully"))
}

/// `POST /api/products` (admin): 201 with the product; `product.created` goes to the outbox.
pub async fn create(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.admin()?;
    let new = NewProduct::parse(ctx.json()?, ctx.body())?;
    let product = storage::insert(ctx.db()?, &new)?;
    Ok(Reply::created(&product, "Product created successfully"))
}

/// `PATCH /api/products/:id` (admin): any of name, description, price, category, isActive;
/// `product.updated` goes to the outbox.
pub async fn update(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.admin()?;
    let change = ProductChange::parse(ctx.json()?, ctx.body())?;
    let product = storage::update(ctx.db()?, ctx.param("id"), &change)?;
    Ok(Reply::ok(&product, "Product updated successfully"))
}

/// `PATCH /api/products/:id/stock` (admin): `{quantity, operation}`, atomic.
pub async fn update_stock(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.admin()?;
    let change = StockChange::parse(ctx.json()?)?;
    let changed = storage::change_stock(ctx.db()?, ctx.param("id"), change)?;
    Ok(Reply::ok(&changed, "Stock updated successfully"))
}

/// `POST /reservations` (private, for the order service): reserve a whole order or nothing.
/// 201 on first success, 200 on a replay.
pub async fn reserve(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.calling_service(RESERVING_SERVICES)?;
    let request = ReservationRequest::parse(ctx.json()?)?;
    let (reservation, created) = storage::reserve(ctx.db()?, &request.order_id, &request.lines)?;
    Ok(if created {
        Reply::created(&reservation, "Stock reserved")
    } else {
        Reply::ok(&reservation, "Stock already reserved for this order")
    })
}

/// `POST /reservations/:orderId/release` (private): compensation, idempotent.
pub async fn release(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.calling_service(RESERVING_SERVICES)?;
    let released = storage::release(ctx.db()?, ctx.param("orderId"))?;
    Ok(Reply::ok(&released, "Reservation released"))
}
