//! What the benchmark asks of the app, in the order it runs.

use std::sync::Arc;

use serde_json::json;

use crate::load::{Load, get, request};
use crate::seed::{BUYERS, PASSWORD, Seeded, WORDS, buyer_email};
use crate::server::Limits;

pub struct Scenario {
    pub name: String,
    pub limits: Limits,
    pub load: Load,
    /// Load that runs beside the measured one, on connections of its own.
    pub background: Option<(&'static str, Load)>,
}

fn product_by_id(ids: &Arc<Vec<String>>) -> crate::load::MakeRequest {
    let ids = ids.clone();
    Arc::new(move |worker, sequence| {
        get(&format!(
            "/api/products/{}",
            ids[(worker * 7919 + sequence as usize) % ids.len()]
        ))
    })
}

fn one_item_order(ids: &Arc<Vec<String>>, buyer_token: &str) -> crate::load::MakeRequest {
    let ids = ids.clone();
    let authorization = format!("Bearer {buyer_token}");
    Arc::new(move |worker, sequence| {
        request(
            "POST",
            "/api/orders",
            &[("authorization", &authorization)],
            Some(json!({
                "items": [{"productId": ids[(worker * 31 + sequence as usize) % ids.len()], "quantity": 1}],
                "shippingAddress": {"street": "1 Main", "city": "X", "postalCode": "1", "country": "US"}
            })),
        )
    })
}

/// Wrong passwords for buyers and for addresses nobody registered, from one client address:
/// what a password-guessing run sends.
fn login_flood() -> crate::load::MakeRequest {
    Arc::new(|worker, sequence| {
        let email = if sequence % 2 == 0 {
            buyer_email((worker + sequence as usize) % BUYERS)
        } else {
            format!("nobody{worker}-{sequence}@bench.local")
        };
        request(
            "POST",
            "/api/users/login",
            &[],
            Some(json!({"email": email, "password": "not-the-password"})),
        )
    })
}

/// Every scenario for `connections` connections (fewer for the expensive ones). The login
/// flood runs last among the scenarios without limits: it leaves the loopback address
/// throttled for logins.
pub fn all(connections: usize, seeded: &Seeded) -> Vec<Scenario> {
    let ids = Arc::new(seeded.product_ids.clone());
    let scenario = |name: &str, limits, connections, make| Scenario {
        name: format!("{name} ({connections} conns)"),
        limits,
        load: Load { connections, make },
        background: None,
    };
    let login_connections = connections.min(4);
    vec![
        scenario(
            "GET /api/products/{id}",
            Limits::Off,
            connections,
            product_by_id(&ids),
        ),
        scenario(
            "GET /api/products?page=2&limit=20",
            Limits::Off,
            connections,
            Arc::new(|_, _| get("/api/products?page=2&limit=20")),
        ),
        scenario(
            "GET /api/products?search={word}",
            Limits::Off,
            connections,
            Arc::new(|worker, sequence| {
                get(&format!(
                    "/api/products?search={}",
                    WORDS[(worker + sequence as usize) % WORDS.len()]
                ))
            }),
        ),
        scenario(
            "POST /api/users/login",
            Limits::Off,
            login_connections,
            Arc::new(|worker, _| {
                request(
                    "POST",
                    "/api/users/login",
                    &[],
                    Some(json!({"email": buyer_email(worker % BUYERS), "password": PASSWORD})),
                )
            }),
        ),
        scenario(
            "POST /api/orders (1 item)",
            Limits::Off,
            connections,
            one_item_order(&ids, &seeded.buyer_token),
        ),
        scenario(
            "GET /health",
            Limits::Off,
            connections,
            Arc::new(|_, _| get("/health")),
        ),
        Scenario {
            background: Some((
                "login flood",
                Load {
                    connections: login_connections,
                    make: login_flood(),
                },
            )),
            ..scenario(
                &format!(
                    "GET /api/products/{{id}} during a login flood on {login_connections} more"
                ),
                Limits::Off,
                connections,
                product_by_id(&ids),
            )
        },
        scenario(
            "GET /api/products/{id}, rate limits counting",
            Limits::Counting,
            connections,
            product_by_id(&ids),
        ),
        scenario(
            "POST /api/orders (1 item), rate limits counting",
            Limits::Counting,
            connections,
            one_item_order(&ids, &seeded.buyer_token),
        ),
    ]
}
