//! What every storefront service that produces events (users, products, orders) serves and
//! runs, written once:
//!
//! - [`routes`] and [`jobs`], which a producer's route table and jobs start from;
//! - [`DeliverEvents`], the job that sends its outbox to the notification service after
//!   every response (and dead-letters or prunes what is past the retention period);
//! - [`health`], its `GET /health`: the database answers, with the outbox's counts;
//! - [`list_dead_letters`] and [`retry_dead_letter`], its private dead-letter endpoints,
//!   which answer only the gateway (see `contracts::dead_letters`).

use std::rc::Rc;

use contracts::dead_letters::MAX_FIRST;
use http_service::{
    ApiError, ApiResult, Job, JobContext, JobFuture, Jobs, Reply, RequestContext, Routes,
};
use outbox::{Delivery, Retried};
use platform::Service;
use serde_json::json;
use store::{Check, Database, Retention};

/// A producer's own routes: `GET /health` and the private dead-letter endpoints. A
/// component adds its routes to these.
pub fn routes() -> Routes {
    Routes::new()
        .get("/health", health)
        .get("/dead-letters", list_dead_letters)
        .post("/dead-letters/:eventId/retry", retry_dead_letter)
}

/// A producer's work after every response, [`DeliverEvents`]; a component adds its own.
pub fn jobs() -> Jobs {
    Jobs::new().job(DeliverEvents)
}

/// Sends the events that are due after every response that leaves any, and deals with
/// what is past the retention period (see `outbox::deliver_pending`).
#[derive(Debug, Clone, Copy)]
pub struct DeliverEvents;

impl Job for DeliverEvents {
    fn name(&self) -> &'static str {
        "deliver events"
    }

    fn check(&self, ctx: &JobContext) -> Option<Check> {
        let now = platform::clock::now_millis();
        let cutoff = Retention::from_variables(ctx.variables()).cutoff(now);
        let label = ctx.label()?;
        let mut check = outbox::pending_check(label, now, cutoff.as_deref());
        if let Some(cutoff) = &cutoff {
            check = check.or(outbox::DELIVERED.check(label, cutoff));
        }
        Some(check)
    }

    fn run<'a>(&'a self, ctx: &'a JobContext, db: &'a Database) -> JobFuture<'a> {
        Box::pin(async move {
            outbox::deliver_pending(Delivery {
                db,
                caller: ctx.caller(),
                logger: ctx.logger(),
            })
            .await;
        })
    }
}

/// `GET /health` of a producer: its database answers, with its outbox's counts. It only
/// reads; delivery is the job that follows every response, this one's included.
pub async fn health(ctx: Rc<RequestContext>) -> ApiResult {
    let check = ctx
        .db()
        .map_err(|error| error.to_string())
        .and_then(|db| {
            db.ping()
                .and_then(|()| outbox::health(db))
                .map_err(|error| error.to_string())
        })
        .map(|counts| json!({ "outbox": counts }));
    http_service::health_reply(ctx.spec().name(), check)
}

/// `GET /dead-letters?first=N` (private, gateway only): this producer's newest dead letters.
pub async fn list_dead_letters(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.calling_service(&[Service::Gateway])?;
    let first = match ctx.query().raw("first") {
        None => 20,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|first| (1..=MAX_FIRST).contains(first))
            .ok_or_else(|| {
                ApiError::validation(
                    "Invalid query parameters",
                    json!({ "invalidFields": { "first": format!("must be an integer from 1 to {MAX_FIRST}") } }),
                )
            })?,
    };
    let list = outbox::dead_letters(ctx.db()?, first)?;
    Ok(Reply::ok(&list, "Dead letters retrieved"))
}

/// `POST /dead-letters/:eventId/retry` (private, gateway only): back to pending.
pub async fn retry_dead_letter(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.calling_service(&[Service::Gateway])?;
    let event_id = ctx.param("eventId");
    match outbox::retry_dead_letter(ctx.db()?, event_id, ctx.variables())? {
        Retried::Pending => Ok(Reply::ok(
            &json!({ "eventId": event_id, "status": "pending" }),
            "Event queued for delivery",
        )),
        Retried::NotFound => Err(ApiError::not_found("Dead letter not found")
            .with_details(json!({ "eventId": event_id }))),
        Retried::TooOld => Err(ApiError::conflict(
            "This event is older than the retention period and cannot be sent safely",
        )
        .with_details(json!({ "eventId": event_id }))),
    }
}
