//! The five components of the storefront, named once: their Spin component ids (also the
//! audience and issuer of service tokens, and `meta.service`), the Spin variable holding each
//! one's base URL, the keys of the aggregated `/health`, the public path each one serves, and
//! the events each produces.

/// Event types, as they go over the wire.
pub mod events {
    pub const USER_CREATED: &str = "user.created";
    pub const PRODUCT_CREATED: &str = "product.created";
    pub const PRODUCT_UPDATED: &str = "product.updated";
    pub const ORDER_CREATED: &str = "order.created";
    pub const ORDER_CANCELLED: &str = "order.cancelled";
    pub const ORDER_STATUS_CHANGED: &str = "order.status_changed";
}

/// One component of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Gateway,
    Users,
    Products,
    Orders,
    Notifications,
}

impl Service {
    /// Every component, the gateway first.
    pub const ALL: [Service; 5] = [
        Service::Gateway,
        Service::Users,
        Service::Products,
        Service::Orders,
        Service::Notifications,
    ];
    /// The services behind the gateway, in the order of the `/health` map.
    pub const BACKENDS: [Service; 4] = [
        Service::Users,
        Service::Products,
        Service::Orders,
        Service::Notifications,
    ];

    /// The Spin component id.
    pub const fn id(self) -> &'static str {
        match self {
            Service::Gateway => "api-gateway",
            Service::Users => "user-service",
            Service::Products => "product-service",
            Service::Orders => "order-service",
            Service::Notifications => "notification-service",
        }
    }

    /// The service with this component id.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|service| service.id() == id)
    }

    /// The Spin variable holding this service's base URL (an origin), for those others call.
    pub const fn url_variable(self) -> Option<&'static str> {
        match self {
            Service::Gateway => None,
            Service::Users => Some("user_service_url"),
            Service::Products => Some("product_service_url"),
            Service::Orders => Some("order_service_url"),
            Service::Notifications => Some("notification_service_url"),
        }
    }

    /// Its key in the aggregated `/health` map.
    pub const fn health_key(self) -> &'static str {
        match self {
            Service::Gateway => "gateway",
            Service::Users => "user",
            Service::Products => "product",
            Service::Orders => "order",
            Service::Notifications => "notification",
        }
    }

    /// The public path this service answers below (the gateway answers everything else).
    pub const fn public_prefix(self) -> Option<&'static str> {
        match self {
            Service::Gateway => None,
            Service::Users => Some("/api/users"),
            Service::Products => Some("/api/products"),
            Service::Orders => Some("/api/orders"),
            Service::Notifications => Some("/api/notifications"),
        }
    }

    /// The service whose public prefix `path` is under.
    pub fn owning(path: &str) -> Option<Self> {
        Self::BACKENDS.into_iter().find(|service| {
            service.public_prefix().is_some_and(|prefix| {
                path.strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
        })
    }

    /// The event types this service produces.
    pub const fn produces(self) -> &'static [&'static str] {
        match self {
            Service::Users => &[events::USER_CREATED],
            Service::Products => &[events::PRODUCT_CREATED, events::PRODUCT_UPDATED],
            Service::Orders => &[
                events::ORDER_CREATED,
                events::ORDER_CANCELLED,
                events::ORDER_STATUS_CHANGED,
            ],
            Service::Gateway | Service::Notifications => &[],
        }
    }

    /// The services with an outbox.
    pub fn producers() -> impl Iterator<Item = Service> {
        Self::ALL
            .into_iter()
            .filter(|service| !service.produces().is_empty())
    }

    /// The service that produces events of `event_type`, if this version knows the type.
    pub fn producer_of(event_type: &str) -> Option<Self> {
        Self::producers().find(|service| service.produces().contains(&event_type))
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_each_event_has_one_producer() {
        for service in Service::ALL {
            assert_eq!(Service::from_id(service.id()), Some(service));
        }
        assert_eq!(
            Service::producer_of(events::ORDER_CANCELLED),
            Some(Service::Orders)
        );
        assert_eq!(Service::producer_of("stock.counted"), None);
        let producers: Vec<_> = Service::producers().collect();
        assert_eq!(
            producers,
            [Service::Users, Service::Products, Service::Orders]
        );
    }

    #[test]
    fn a_path_belongs_to_the_service_whose_prefix_holds_whole_segments() {
        assert_eq!(Service::owning("/api/users"), Some(Service::Users));
        assert_eq!(Service::owning("/api/users/me"), Some(Service::Users));
        assert_eq!(Service::owning("/api/usersx"), None);
        assert_eq!(Service::owning("/api/admin/dead-letters"), None);
        assert_eq!(Service::owning("/health"), None);
    }
}
