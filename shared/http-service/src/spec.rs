//! What a component is, said once.

use platform::Service;
use store::Schema;

use crate::{Jobs, Routes};

/// A component: which service it is, its version, its own database, its routes, and the
/// work it runs after each response.
#[derive(Debug)]
pub struct ServiceSpec {
    pub service: Service,
    pub version: &'static str,
    /// The database the service owns (opened at most once per request, on first use).
    pub schema: Option<&'static Schema>,
    pub routes: fn() -> Routes,
    pub jobs: fn() -> Jobs,
}

impl ServiceSpec {
    /// `meta.service` and the logs' `service`: the component id.
    pub fn name(&self) -> &'static str {
        self.service.id()
    }

    /// Whether responses name the service (`X-Service`, `X-Version`): every service does;
    /// the gateway relays theirs.
    pub fn identifies_itself(&self) -> bool {
        self.service != Service::Gateway
    }

    /// Whether request bodies are JSON this component reads (the gateway relays them).
    pub fn reads_json(&self) -> bool {
        self.service != Service::Gateway
    }
}
