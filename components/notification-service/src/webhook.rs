//! The notification webhook: each new notification is POSTed as JSON to
//! `notification_webhook_url`, when set, by the work after responses. Best effort: a
//! notification is offered once, a failure is logged, and the notification itself is stored
//! whatever the webhook does. The call carries no credential of the app.

use std::time::Duration;

use http_service::{Job, JobContext, JobFuture};
use platform::variables::names::NOTIFICATION_WEBHOOK_URL;
use serde_json::json;
use service_client::ServiceClient;
use spin_sdk::http::Method;
use store::{Check, Database};

use crate::storage;

/// How long the webhook may take to answer.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Notifications one pass offers at most.
const BATCH: i64 = 20;

/// Offers new notifications to the webhook.
#[derive(Debug, Clone, Copy)]
pub struct SendWebhooks;

impl Job for SendWebhooks {
    fn name(&self) -> &'static str {
        "send notifications to the webhook"
    }

    fn check(&self, ctx: &JobContext) -> Option<Check> {
        ctx.variables().text(NOTIFICATION_WEBHOOK_URL)?;
        Some(Check::any(
            "notifications",
            storage::WEBHOOK_PENDING,
            Vec::new(),
        ))
    }

    fn run<'a>(&'a self, ctx: &'a JobContext, db: &'a Database) -> JobFuture<'a> {
        Box::pin(async move {
            let Some(url) = ctx.variables().text(NOTIFICATION_WEBHOOK_URL) else {
                return;
            };
            let notifications = match storage::claim_for_webhook(db, BATCH) {
                Ok(notifications) => notifications,
                Err(error) => {
                    ctx.logger().error(
                        "could not take notifications for the webhook",
                        json!({ "cause": error.to_string() }),
                    );
                    return;
                }
            };
            let client = ServiceClient::external("notification-webhook", url.to_string(), TIMEOUT);
            for notification in notifications {
                let body = serde_json::to_vec(&notification).unwrap_or_default();
                match client
                    .send(ctx.caller(), Method::Post, "", &[], Some(body))
                    .await
                {
                    Ok(answer) if answer.is_success() => {}
                    outcome => ctx.logger().warn(
                        "notification webhook failed",
                        json!({ "notificationId": notification.id, "status": outcome.ok().map(|a| a.status) }),
                    ),
                }
            }
        })
    }
}
