//! The data every scenario starts from: an admin, products, and ten buyers.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::load::{Connection, request};
use crate::server::{ADMIN, ADMIN_BOOTSTRAP_TOKEN};

pub const PASSWORD: &str = "bench-password";
pub const BUYERS: usize = 10;
pub const WORDS: [&str; 8] = [
    "red", "blue", "lamp", "mug", "chair", "steel", "oak", "wool",
];

pub struct Seeded {
    pub product_ids: Vec<String>,
    pub buyer_token: String,
}

pub fn buyer_email(index: usize) -> String {
    format!("user{index}@bench.local")
}

async fn register(connection: &mut Connection, email: &str) -> Result<String> {
    // The bootstrap header makes a listed admin email an admin; apps from before it existed
    // ignore it.
    let (status, body) = connection
        .call(request(
            "POST",
            "/api/users/register",
            &[("x-admin-bootstrap-token", ADMIN_BOOTSTRAP_TOKEN)],
            Some(json!({"email": email, "password": PASSWORD, "name": "Bench"})),
        ))
        .await?;
    if status != 201 {
        bail!(
            "registering {email}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let user: Value = serde_json::from_slice(&body)?;
    Ok(user["data"]["token"].as_str().context("token")?.to_string())
}

pub async fn seed(addr: SocketAddr, products: usize) -> Result<Seeded> {
    let mut connection = Connection::open(addr).await?;
    let admin_token = register(&mut connection, ADMIN).await?;
    let authorization = format!("Bearer {admin_token}");
    let mut product_ids = Vec::with_capacity(products);
    for index in 0..products {
        let name = format!(
            "{} {} {index}",
            WORDS[index % WORDS.len()],
            WORDS[(index / 8) % WORDS.len()]
        );
        let body = json!({"name": name, "description": format!("A {} item for benchmarks", WORDS[(index + 3) % WORDS.len()]),
            "price": 1 + index % 500, "category": format!("cat{}", index % 10), "stock": 1_000_000});
        let (status, answer) = connection
            .call(request(
                "POST",
                "/api/products",
                &[("authorization", &authorization)],
                Some(body),
            ))
            .await?;
        if status != 201 {
            bail!(
                "seeding product {index} failed: {status} {}",
                String::from_utf8_lossy(&answer)
            );
        }
        let product: Value = serde_json::from_slice(&answer)?;
        product_ids.push(product["data"]["id"].as_str().context("id")?.to_string());
    }
    let mut buyer_token = String::new();
    for user in 0..BUYERS {
        buyer_token = register(&mut connection, &buyer_email(user)).await?;
    }
    Ok(Seeded {
        product_ids,
        buyer_token,
    })
}
