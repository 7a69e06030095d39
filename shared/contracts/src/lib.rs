//! The contracts between the storefront's services, in one place: what a producer sends is the
//! type its consumer reads, so the two cannot drift apart field by field.
//!
//! - [`events`]: every event, as producers record them in their outboxes and the notification
//!   service's private `POST /events` takes them.
//! - [`reservations`]: the product service's private stock reservation endpoints, as the order
//!   service calls them.
//! - [`dead_letters`]: each producer's private dead-letter endpoints, as the gateway calls them.
//!
//! Field names on the wire are camelCase, as in the public API.

pub mod dead_letters;
pub mod events;
pub mod reservations;
