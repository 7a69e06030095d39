//! Work after the response, declared by each component beside its routes (`jobs()` next to
//! `routes()`): deliver the outbox, release abandoned order attempts, expire holds, prune
//! what is past its retention. The serving layer runs them after every response, `/health`'s
//! included, with a [`JobContext`] of their own: the request is answered and gone; a job has
//! the service, the variables, a logger tagged with the request id, and the database
//! connection the request used (one connection per request, as Spin makes every open a new
//! one).
//!
//! Each job says whether it has anything to do with a [`Check`]: the checks of all a
//! component's jobs are asked in one statement, and only the jobs with work run, so a request
//! after which there is nothing to do pays one indexed read (on its own connection, or on
//! one opened for it if the request used none).

use std::rc::Rc;

use futures::future::LocalBoxFuture;
use platform::{Logger, Service, Variables};
use service_client::Caller;
use store::{Check, Database, Expiry, Retention, StoreError};

use crate::ServiceSpec;
use crate::context::{DatabaseCell, Shared};

/// What a job's run returns.
pub type JobFuture<'a> = LocalBoxFuture<'a, ()>;

/// One kind of work after responses.
pub trait Job {
    fn name(&self) -> &'static str;
    /// Whether there is work, as of now; `None` when the job has nothing to look for (say,
    /// retention set to keep everything).
    fn check(&self, ctx: &JobContext) -> Option<Check>;
    /// Does the work; `db` is the service's database, which the check was just asked on.
    fn run<'a>(&'a self, ctx: &'a JobContext, db: &'a Database) -> JobFuture<'a>;
}

/// A component's jobs, run in order.
#[derive(Default)]
pub struct Jobs(Vec<Box<dyn Job>>);

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Jobs {
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn job(mut self, job: impl Job + 'static) -> Self {
        self.0.push(Box::new(job));
        self
    }

    /// The names of the jobs, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|job| job.name()).collect()
    }

    /// Asks every job's check in one statement and runs the jobs with work, in order. A job
    /// that ran may have made work for the ones after it (an expired hold leaves events to
    /// deliver), so their checks are asked again after it. A failed check is logged and runs
    /// nothing: the next response tries again.
    pub(crate) async fn run_due(&self, ctx: &JobContext) {
        let mut next = 0;
        while next < self.0.len() {
            let pending = &self.0[next..];
            let asked: Vec<(usize, Check)> = pending
                .iter()
                .enumerate()
                .filter_map(|(index, job)| job.check(ctx).map(|check| (next + index, check)))
                .collect();
            if asked.is_empty() {
                return;
            }
            let checks: Vec<Check> = asked.iter().map(|(_, check)| check.clone()).collect();
            let asked_on = ctx
                .db()
                .and_then(|db| db.ask(&checks).map(|answers| (db, answers)));
            let (db, answers) = match asked_on {
                Ok(asked_on) => asked_on,
                Err(error) => {
                    ctx.logger().error(
                        "could not check for work after the response",
                        serde_json::json!({ "cause": error.to_string() }),
                    );
                    return;
                }
            };
            let Some((index, _)) = asked
                .iter()
                .zip(&answers)
                .find(|(_, due)| **due)
                .map(|(asked, _)| asked)
            else {
                return;
            };
            self.0[*index].run(ctx, db).await;
            next = index + 1;
        }
    }
}

/// Deletes a batch of one kind of finished record past the retention period
/// (`retention_days`), after every response that finds any.
#[derive(Debug, Clone, Copy)]
pub struct Prune {
    pub name: &'static str,
    pub expiry: Expiry,
}

impl Job for Prune {
    fn name(&self) -> &'static str {
        self.name
    }

    fn check(&self, ctx: &JobContext) -> Option<Check> {
        let cutoff =
            Retention::from_variables(ctx.variables()).cutoff(platform::clock::now_millis())?;
        Some(self.expiry.check(ctx.label()?, &cutoff))
    }

    fn run<'a>(&'a self, ctx: &'a JobContext, db: &'a Database) -> JobFuture<'a> {
        Box::pin(async move {
            store::retention::prune_found(db, ctx.variables(), ctx.logger(), &self.expiry);
        })
    }
}

/// What a job works with: not the request (it is answered), but the service, its variables,
/// a logger tagged with the request id, and the database connection the request used.
pub struct JobContext {
    spec: &'static ServiceSpec,
    request_id: String,
    variables: Rc<Variables>,
    logger: Logger,
    database: Rc<DatabaseCell>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("service", &self.spec.name())
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl JobContext {
    pub(crate) fn after(shared: &Shared) -> Self {
        Self {
            spec: shared.spec,
            request_id: shared.request_id.clone(),
            variables: shared.variables.clone(),
            logger: shared.logger.clone(),
            database: shared.database.clone(),
        }
    }

    pub fn service(&self) -> Service {
        self.spec.service
    }

    pub fn variables(&self) -> &Variables {
        &self.variables
    }

    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// The SQLite label of the service's database, if it owns one.
    pub fn label(&self) -> Option<&'static str> {
        self.spec.schema.map(|schema| schema.label)
    }

    /// The service's database (the request's connection, or a new one if it opened none).
    pub(crate) fn db(&self) -> Result<&Database, StoreError> {
        self.database.get()
    }

    /// Who calls other services for this work.
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            service: self.spec.service,
            request_id: &self.request_id,
            variables: &self.variables,
        }
    }
}
