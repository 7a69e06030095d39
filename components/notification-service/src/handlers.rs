//! Notification-service handlers.

use std::rc::Rc;

use contracts::events::{Event, EventPayload};
use http_service::{ApiError, ApiResult, Reply, RequestContext, page_from};
use platform::Service;
use platform::variables::names::NOTIFICATION_WEBHOOK_URL;
use serde_json::json;

use crate::domain::notification_for;
use crate::storage;

/// `GET /health`: healthy when the service's database answers.
pub async fn health(ctx: Rc<RequestContext>) -> ApiResult {
    let check = ctx
        .db()
        .map_err(|error| error.to_string())
        .and_then(|db| db.ping().map_err(|error| error.to_string()))
        .map(|()| serde_json::Value::Null);
    http_service::health_reply(ctx.spec().name(), check)
}

/// `POST /events` (the producers only): takes an event once. 201 when new, 200 when the id
/// was seen before (nothing changes).
pub async fn receive_event(ctx: Rc<RequestContext>) -> ApiResult {
    let producers: Vec<Service> = Service::producers().collect();
    let caller = ctx.calling_service(&producers)?;
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
    let owner = Service::producer_of(&event.event_type);
    if event.source != caller.id() || owner.is_some_and(|owner| owner != caller) {
        return Err(ApiError::forbidden("This service may not send this event")
            .with_details(json!({ "source": event.source, "type": event.event_type })));
    }
    // A type this version does not know (a newer producer's) is taken and causes nothing.
    let payload = EventPayload::parse(&event.event_type, event.data.clone())
        .map_err(|error| invalid(error.to_string()))?;
    let notification = payload.as_ref().and_then(notification_for);
    let for_webhook = ctx.variables().text(NOTIFICATION_WEBHOOK_URL).is_some();
    match storage::accept_event(ctx.db()?, &event, notification, for_webhook)? {
        None => Ok(Reply::ok(
            &json!({ "eventId": event.id, "duplicate": true }),
            "Event already processed",
        )),
        Some(created) => Ok(Reply::created(
            &json!({ "eventId": event.id, "duplicate": false, "notificationId": created.map(|n| n.id) }),
            "Event processed",
        )),
    }
}

/// `GET /api/notifications`: the caller's, newest first; `?unread=true` filters.
pub async fn list(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    let page = page_from(ctx.query(), 20, 100)?;
    let unread_only = ctx.query().flag("unread").map_err(|error| {
        ApiError::validation(
            "Invalid query parameters",
            json!({ "invalidFields": { "unread": error } }),
        )
    })?;
    let (notifications, total) = storage::list(ctx.db()?, &identity.user_id, unread_only, page)?;
    Ok(Reply::page(
        &notifications,
        page,
        total,
        "Notifications retrieved successfully",
    ))
}

/// `PATCH /api/notifications/:id/read`: the owner's only; anyone else gets 404.
pub async fn mark_read(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    let notification = storage::mark_read(ctx.db()?, &identity.user_id, ctx.param("id"))?;
    Ok(Reply::ok(&notification, "Notification marked as read"))
}
