//! The services behind the gateway: one row per service, with the Spin variable that holds
//! its base URL and the health key of the contract.

use std::time::Duration;

use service_client::ServiceClient;

/// A service the gateway fronts.
#[derive(Debug, Clone, Copy)]
pub struct Upstream {
    /// The key in the `/health` map.
    pub health_key: &'static str,
    /// The Spin component id.
    pub component: &'static str,
    /// The Spin variable holding the base URL.
    pub url_variable: &'static str,
}

pub const USER: Upstream = Upstream {
    health_key: "user",
    component: "user-service",
    url_variable: "user_service_url",
};
pub const PRODUCT: Upstream = Upstream {
    health_key: "product",
    component: "product-service",
    url_variable: "product_service_url",
};
pub const ORDER: Upstream = Upstream {
    health_key: "order",
    component: "order-service",
    url_variable: "order_service_url",
};
pub const NOTIFICATION: Upstream = Upstream {
    health_key: "notification",
    component: "notification-service",
    url_variable: "notification_service_url",
};

/// Every service, in the order of the `/health` map.
pub const UPSTREAMS: [Upstream; 4] = [USER, PRODUCT, ORDER, NOTIFICATION];

impl Upstream {
    pub fn client(&self, timeout: Duration) -> ServiceClient {
        ServiceClient::from_variable(self.component, self.url_variable, timeout)
    }
}
