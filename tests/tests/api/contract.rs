//! The public contract in one place: `openapi.yaml` states exactly the routes the components
//! serve, and `spin.toml` routes each public path to the component that serves it.

use std::collections::BTreeSet;

use platform::Service;
use storefront_runner::manifest::{Manifest, RouteDecl};
use storefront_runner::routing::{Route, RouteTable};
use storefront_tests::workspace_root;

/// `(method, OpenAPI path)` of a route table's public routes (`/api/...`, and the gateway's
/// `/health`).
fn public_routes(routes: http_service::Routes, gateway: bool) -> BTreeSet<(String, String)> {
    routes
        .table()
        .into_iter()
        .filter(|(_, pattern)| pattern.starts_with("/api/") || (gateway && *pattern == "/health"))
        .map(|(method, pattern)| {
            let path = pattern
                .split('/')
                .map(|segment| match segment.strip_prefix(':') {
                    Some(name) => format!("{{{name}}}"),
                    None => segment.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/");
            (method.to_string(), path)
        })
        .collect()
}

/// Every component's public routes, by service.
fn served() -> Vec<(Service, BTreeSet<(String, String)>)> {
    vec![
        (Service::Gateway, public_routes(api_gateway::routes(), true)),
        (Service::Users, public_routes(user_service::routes(), false)),
        (
            Service::Products,
            public_routes(product_service::routes(), false),
        ),
        (
            Service::Orders,
            public_routes(order_service::routes(), false),
        ),
        (
            Service::Notifications,
            public_routes(notification_service::routes(), false),
        ),
    ]
}

#[test]
fn openapi_documents_exactly_the_routes_the_components_serve() {
    let text =
        std::fs::read_to_string(workspace_root().join("openapi.yaml")).expect("openapi.yaml");
    let document: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_mapping()
        .expect("paths")
        .iter()
        .flat_map(|(path, operations)| {
            let path = path.as_str().unwrap_or_default().to_string();
            operations
                .as_mapping()
                .into_iter()
                .flat_map(|operations| operations.keys())
                .filter_map(|method| method.as_str())
                .filter(|method| *method != "options" && *method != "parameters")
                .map(move |method| (method.to_ascii_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = served()
        .into_iter()
        .flat_map(|(_, routes)| routes)
        .collect();

    assert_eq!(documented, routed);
}

#[test]
fn spin_routes_every_public_path_to_the_component_that_serves_it() {
    let manifest = Manifest::load(&workspace_root().join("spin.toml")).expect("spin.toml");
    let mut table = RouteTable::default();
    for trigger in &manifest.trigger.http {
        if let RouteDecl::Path(route) = &trigger.route {
            table
                .add(
                    Route::parse(route).expect("route"),
                    trigger.component.clone(),
                )
                .expect("unique");
        }
    }

    for (service, routes) in served() {
        for (_, path) in routes {
            let concrete = path.replace("{id}", "x1");
            let target = table.find(&concrete).map(|found| found.target.clone());
            assert_eq!(target.as_deref(), Some(service.id()), "{path}");
        }
    }
}
