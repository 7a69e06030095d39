//! Product-service handlers.

use std::rc::Rc;

use response_handler::{
    ApiError, ApiResult, Fields, PageRequest, Query, Reply, RequestContext, pagination,
};
use serde_json::json;

use crate::domain::{
    Cents, Quantity, StockOperation, bounded_text, fts_query, parse_initial_stock,
};
use crate::schema;
use contracts::reservations::ReservationLine;

use crate::storage::{self, ListFilter, NewProduct};

/// Lines one reservation may hold (the order service allows 50).
const MAX_RESERVATION_LINES: usize = 50;

/// Longest product name, category and description, in characters as sent.
const MAX_NAME_CHARS: usize = 200;
const MAX_CATEGORY_CHARS: usize = 100;
const MAX_DESCRIPTION_CHARS: usize = 5000;

/// The services that may reserve and release stock (private endpoints).
const RESERVING_SERVICES: &[&str] = &["order-service"];

/// `GET /health`: healthy when the service's database answers.
pub async fn health(ctx: Rc<RequestContext>) -> ApiResult {
    outbox::health_reply(ctx.config.name, schema::open())
}

fn price_bound(
    query: &Query,
    name: &str,
    invalid: &mut serde_json::Map<String, serde_json::Value>,
) -> Option<Cents> {
    // Bounds may be 0 ("from free"), unlike a product's price; a blank bound is no number.
    let raw = query.raw(name)?;
    Cents::parse(raw)
        .map_err(|reason| invalid.insert(name.to_string(), json!(reason)))
        .ok()
}

/// `GET /products`: filtered, searched, paginated.
pub async fn list(ctx: Rc<RequestContext>) -> ApiResult {
    let query = ctx.query();
    let page = PageRequest::parse(query, 20, 100)?;
    let mut invalid = serde_json::Map::new();
    let min_price = price_bound(query, "minPrice", &mut invalid);
    let max_price = price_bound(query, "maxPrice", &mut invalid);
    if let (Some(min), Some(max)) = (min_price, max_price)
        && min > max
    {
        invalid.insert(
            "minPrice".into(),
            json!("must not be greater than maxPrice"),
        );
    }
    let search = match query.get("search") {
        None => None,
        Some(text) if text.chars().count() > 200 => {
            invalid.insert("search".into(), json!("must be at most 200 characters"));
            None
        }
        Some(text) => match fts_query(text) {
            Some(fts) => Some(fts),
            None => {
                invalid.insert("search".into(), json!("must contain a letter or digit"));
                None
            }
        },
    };
    if !invalid.is_empty() {
        return Err(ApiError::validation(
            "Invalid query parameters",
            json!({ "invalidFields": invalid }),
        ));
    }
    let filter = ListFilter {
        category: query.get("category").map(str::to_string),
        min_price,
        max_price,
        search,
    };
    let db = schema::open()?;
    let (products, total) = storage::list(&db, &filter, page)?;
    Ok(Reply::paginated(
        &products,
        pagination(page.page, page.limit, total),
        "Products retrieved successfully",
    ))
}

/// `GET /products/:id`.
pub async fn get(ctx: Rc<RequestContext>) -> ApiResult {
    let id = ctx.param("id");
    let db = schema::open()?;
    let product = storage::find(&db, id)?.ok_or_else(|| {
        ApiError::not_found("Product not found").with_details(json!({ "productId": id }))
    })?;
    Ok(Reply::ok(&product, "Product retrieved successfully"))
}

/// `POST /products` (admin): 201 with the product; `product.created` goes to the outbox.
pub async fn create(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.admin()?;
    let body = ctx.json()?;
    // The price is read from the exact text sent: a double would turn 19.999999999999999
    // into 20 and 1e2 into 100, amounts nobody typed.
    let mut fields = Fields::of(body)?.with_number_literals(ctx.body());
    let name = fields.required_str("name");
    let description = fields.optional_str("description");
    let price = fields.required_number_text("price");
    let category = fields.required_str("category");
    let stock = fields.optional_i64("stock");
    // Free text over several lines: any character, at most 5000 as sent.
    let description = match description {
        Some(raw) if raw.chars().count() > MAX_DESCRIPTION_CHARS => {
            fields.invalid(
                "description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            );
            None
        }
        other => Some(other.unwrap_or_default().trim().to_string()),
    };
    let price = price.and_then(|raw| match Cents::parse(&raw) {
        Ok(cents) if cents.cents() > 0 => Some(cents),
        Ok(_) => {
            fields.invalid("price", "must be greater than 0");
            None
        }
        Err(reason) => {
            fields.invalid("price", reason);
            None
        }
    });
    let name = fields.parsed("name", name, |raw| bounded_text(raw, MAX_NAME_CHARS));
    let category = fields.parsed("category", category, |raw| {
        bounded_text(raw, MAX_CATEGORY_CHARS)
    });
    let stock = match stock {
        None => Some(0),
        given => fields.parsed("stock", given, parse_initial_stock),
    };
    let (name, description, price, category, stock) =
        fields.complete((name, description, price, category, stock))?;
    let db = schema::open()?;
    let product = storage::insert(
        &db,
        NewProduct {
            name,
            description,
            price,
            category,
            stock,
        },
    )?;
    outbox::deliver_after_response(&ctx, schema::open);
    Ok(Reply::created(&product, "Product created successfully"))
}

/// `PATCH /products/:id/stock` (admin): `{quantity, operation}`, atomic.
pub async fn update_stock(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.admin()?;
    let id = ctx.param("id");
    let body = ctx.json()?;
    let mut fields = Fields::of(body)?;
    let quantity = fields.required_i64("quantity");
    let operation = fields.required_str("operation");
    let quantity = fields.parsed("quantity", quantity, Quantity::parse);
    let operation = fields.parsed("operation", operation, StockOperation::parse);
    let (quantity, operation) = fields.complete((quantity, operation))?;
    let db = schema::open()?;
    let change = storage::change_stock(&db, id, quantity, operation)?;
    Ok(Reply::ok(&change, "Stock updated successfully"))
}

/// `POST /reservations` (private, for the order service): reserve a whole order or nothing.
/// Body `{orderId, items: [{productId, quantity}]}`; 201 on first success, 200 on a replay.
pub async fn reserve(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.calling_service(RESERVING_SERVICES)?;
    let body = ctx.json()?;
    let mut fields = Fields::of(body)?;
    let order_id = fields.required_str("orderId");
    let items = fields.required_array("items");
    let mut lines: Vec<ReservationLine> = Vec::new();
    if let Some(items) = items {
        if items.is_empty() || items.len() > MAX_RESERVATION_LINES {
            fields.invalid("items", "must hold 1 to 50 lines");
        }
        for (index, item) in items.iter().enumerate() {
            match serde_json::from_value::<ReservationLine>(item.clone()) {
                Ok(line)
                    if Quantity::parse(line.quantity).is_ok() && !line.product_id.is_empty() =>
                {
                    match lines.iter_mut().find(|l| l.product_id == line.product_id) {
                        Some(existing) => existing.quantity += line.quantity,
                        None => lines.push(line),
                    }
                }
                _ => fields.invalid(
                    &format!("items[{index}]"),
                    "must be {productId, quantity >= 1}",
                ),
            }
        }
    }
    let (order_id,) = fields.complete((order_id,))?;
    let db = schema::open()?;
    let (reservation, created) = storage::reserve(&db, order_id, &lines)?;
    prune_tombstones_later(&ctx, db);
    let reply = if created {
        Reply::created(&reservation, "Stock reserved")
    } else {
        Reply::ok(&reservation, "Stock already reserved for this order")
    };
    Ok(reply)
}

/// `POST /reservations/:orderId/release` (private): compensation, idempotent.
pub async fn release(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.calling_service(RESERVING_SERVICES)?;
    let order_id = ctx.param("orderId");
    let db = schema::open()?;
    let released = storage::release(&db, order_id)?;
    prune_tombstones_later(&ctx, db);
    Ok(Reply::ok(&released, "Reservation released"))
}

/// After the response: deletes a batch of release tombstones past the retention period.
/// Reservations and releases both run it, so it keeps pace with orders.
fn prune_tombstones_later(ctx: &Rc<RequestContext>, db: store::Database) {
    outbox::prune_expired_after_response(ctx, db, &[schema::RELEASED_RESERVATIONS]);
}
