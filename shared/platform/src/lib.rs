//! The bottom of the storefront's own crates: what every component needs, with nothing of
//! HTTP in it, so storage, background work and request handling can all stand on it.
//!
//! - [`clock`]: the time, as milliseconds and as the RFC 3339 text every timestamp uses.
//! - [`variables`]: Spin variables, each read from the host at most once per request (a read
//!   is a host call under Spin), with their names in one place and secrets checked.
//! - [`log`]: one JSON object per line, tagged with the service and the request.
//! - [`services`]: the five components: ids, the URL variables that locate them, their
//!   `/health` keys and public paths, and which events each produces.

pub mod clock;
pub mod log;
pub mod services;
pub mod variables;

pub use log::{LogLevel, Logger};
pub use services::Service;
pub use variables::Variables;
