//! Every producer's dead letters, for admins: the events a producer gave up delivering,
//! listed newest first across the producers, and sent again on request. Each producer
//! answers its own part over its private endpoints (`contracts::dead_letters`), signed with
//! the gateway's service token.

use std::rc::Rc;

use contracts::dead_letters::{
    DeadLetter, DeadLetterList, LIST_PATH, MAX_FIRST, parse_public_id, retry_path,
};
use http_service::{ApiError, ApiResult, Reply, RequestContext, page_from};
use platform::Service;
use serde_json::json;
use service_client::{ServiceClient, upstream_timeout};
use spin_sdk::http::Method;

fn client(ctx: &RequestContext, service: Service) -> ServiceClient {
    ServiceClient::to(service, ctx.variables(), upstream_timeout(ctx.variables()))
}

/// One producer's newest `first` dead letters.
async fn of_producer(
    ctx: &RequestContext,
    producer: Service,
    first: u32,
) -> Result<DeadLetterList, ApiError> {
    let answer = client(ctx, producer)
        .send(
            ctx.caller(),
            Method::Get,
            &format!("{LIST_PATH}?first={first}"),
            &[],
            None,
        )
        .await?;
    if !answer.is_success() {
        return Err(ApiError::bad_gateway(
            producer.id(),
            format!("dead letters: status {}", answer.status),
        ));
    }
    Ok(answer.data()?)
}

/// `GET /api/admin/dead-letters` (admin): every producer's dead letters, newest first,
/// paginated. A page reaches at most the 10,000 newest of each producer.
pub async fn list(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.admin()?;
    let page = page_from(ctx.query(), 20, 100)?;
    let first = u64::from(page.number) * u64::from(page.size);
    let first = u32::try_from(first)
        .ok()
        .filter(|first| *first <= MAX_FIRST)
        .ok_or_else(|| {
            ApiError::validation(
                "Invalid query parameters",
                json!({ "invalidFields": { "page": format!("page * limit must be at most {MAX_FIRST}") } }),
            )
        })?;
    let lists = futures::future::join_all(
        Service::producers().map(|producer| of_producer(&ctx, producer, first)),
    )
    .await;
    let mut items: Vec<DeadLetter> = Vec::new();
    let mut total = 0;
    for list in lists {
        let list = list?;
        total += list.total;
        items.extend(list.items);
    }
    items.sort_by(|a, b| (&b.created_at, &b.id).cmp(&(&a.created_at, &a.id)));
    let start = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    let items: Vec<DeadLetter> = items
        .into_iter()
        .skip(start)
        .take(page.size as usize)
        .collect();
    Ok(Reply::page(
        &items,
        page,
        total,
        "Dead letters retrieved successfully",
    ))
}

/// `POST /api/admin/dead-letters/:id/retry` (admin): back to pending at its producer, which
/// delivers it after its next response (this call's included).
pub async fn retry(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.admin()?;
    let id = ctx.param("id");
    let not_found =
        || ApiError::not_found("Dead letter not found").with_details(json!({ "id": id }));
    let (producer, event_id) = parse_public_id(id).ok_or_else(not_found)?;
    let producer = Service::from_id(producer)
        .filter(|service| !service.produces().is_empty())
        .ok_or_else(not_found)?;
    let answer = client(&ctx, producer)
        .send(ctx.caller(), Method::Post, &retry_path(event_id), &[], None)
        .await?;
    if answer.status == 404 {
        return Err(not_found());
    }
    if !answer.is_success() {
        return Err(ApiError::from_upstream(&answer));
    }
    Ok(Reply::ok(
        &json!({ "id": id, "status": "pending" }),
        "Event queued for delivery",
    ))
}
