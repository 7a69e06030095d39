//! Notification-service handlers.

use std::rc::Rc;
use std::time::Duration;

use response_handler::{ApiError, ApiResult, PageRequest, Reply, RequestContext, pagination};
use serde_json::json;
use service_client::ServiceClient;
use spin_sdk::http::Method;

use contracts::events::{Event, EventPayload};

use crate::domain::{Notification, notification_for};
use crate::schema;
use crate::storage;

/// The services whose events this service takes (its private endpoint).
const PRODUCERS: &[&str] = &["user-service", "product-service", "order-service"];

/// The service that produces events of a known type.
fn owner_of(event_type: &str) -> Option<&'static str> {
    match event_type {
        "user.created" => Some("user-service"),
        "product.created" => Some("product-service"),
        "order.created" => Some("order-service"),
        _ => None,
    }
}

/// `GET /health`: healthy when the service's database answers.
pub async fn health(ctx: Rc<RequestContext>) -> ApiResult {
    response_handler::health_reply(
        ctx.config.name,
        schema::open()
            .and_then(|db| Ok(db.ping()?))
            .map(|()| serde_json::Value::Null),
    )
}

/// `POST /events` (private: reachable only through service chaining): takes an event once.
/// 201 when new, 200 when the id was seen before (nothing changes).
pub async fn receive_event(ctx: Rc<RequestContext>) -> ApiResult {
    let caller = ctx.calling_service(PRODUCERS)?;
    let body = ctx.json()?.clone();
    let invalid =
        |reason: String| ApiError::validation("Invalid event", json!({ "reason": reason }));
    let event: Event = serde_json::from_value(body).map_err(|error| invalid(error.to_string()))?;
    if event.id.trim().is_empty() || event.event_type.trim().is_empty() {
        return Err(ApiError::validation(
            "Invalid event",
            json!({ "invalidFields": { "id": "required", "type": "required" } }),
        ));
    }
    // A service speaks for itself only: its events name it as their source, and a known kind
    // of event is taken from its producer alone (no one else announces an order).
    let owner = owner_of(&event.event_type);
    if event.source != caller || owner.is_some_and(|owner| owner != caller) {
        return Err(ApiError::forbidden("This service may not send this event")
            .with_details(json!({ "source": event.source, "type": event.event_type })));
    }
    // A type this version does not know (a newer producer's) is taken and causes nothing.
    let payload = EventPayload::parse(&event.event_type, event.data.clone())
        .map_err(|error| invalid(error.to_string()))?;
    let db = schema::open()?;
    let notification = payload.as_ref().and_then(notification_for);
    let accepted = storage::accept_event(&db, &event, notification)?;
    // Each event adds an id to remember; each also deletes a batch of expired ones.
    outbox::prune_expired_after_response(&ctx, db, &[schema::PROCESSED_EVENTS]);
    match accepted {
        None => Ok(Reply::ok(
            &json!({ "eventId": event.id, "duplicate": true }),
            "Event already processed",
        )),
        Some(created) => {
            if let Some(notification) = created.clone() {
                send_webhook_later(&ctx, notification);
            }
            Ok(Reply::created(
                &json!({ "eventId": event.id, "duplicate": false, "notificationId": created.map(|n| n.id) }),
                "Event processed",
            ))
        }
    }
}

/// Posts a new notification to `notification_webhook_url`, when set, after the response.
/// Best effort: a failed webhook is logged; the notification itself is already stored.
fn send_webhook_later(ctx: &Rc<RequestContext>, notification: Notification) {
    let Some(url) = spin_sdk::variables::get("notification_webhook_url")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        return;
    };
    let ctx_for_work = ctx.clone();
    ctx.after_response(async move {
        let client = ServiceClient::external("notification-webhook", url, Duration::from_secs(3));
        let body = serde_json::to_vec(&notification).unwrap_or_default();
        match client.send(&ctx_for_work, Method::Post, "", &[], Some(body)).await {
            Ok(answer) if answer.is_success() => {}
            outcome => ctx_for_work.logger.warn(
                "notification webhook failed",
                json!({ "notificationId": notification.id, "status": outcome.ok().map(|a| a.status) }),
            ),
        }
    });
}

/// `GET /notifications`: the caller's, newest first; `?unread=true` filters.
pub async fn list(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    let query = ctx.query();
    let page = PageRequest::parse(query, 20, 100)?;
    let unread_only = match query.raw("unread") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::validation(
                "Invalid query parameters",
                json!({ "invalidFields": { "unread": "must be true or false" } }),
            ));
        }
    };
    let db = schema::open()?;
    let (notifications, total) = storage::list(&db, &identity.user_id, unread_only, page)?;
    Ok(Reply::paginated(
        &notifications,
        pagination(page.page, page.limit, total),
        "Notifications retrieved successfully",
    ))
}

/// `PATCH /notifications/:id/read`: the owner's only; anyone else gets 404.
pub async fn mark_read(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    let id = ctx.param("id");
    let db = schema::open()?;
    let notification = storage::mark_read(&db, &identity.user_id, id)?;
    Ok(Reply::ok(&notification, "Notification marked as read"))
}
