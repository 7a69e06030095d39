//! The steps most stories start with: accounts, products, orders.

use serde_json::{Value, json};

use crate::{Answer, TestApp};

/// A complete, valid shipping address for orders.
pub fn shipping_address() -> Value {
    json!({"street": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US", "line2": "Apt 4"})
}

/// A fresh app with default options and its shop open ([`TestApp::open_shop`]).
pub async fn spawn_shop(stock: i64) -> (TestApp, Shop) {
    let app = crate::spawn_app().await;
    let shop = app.open_shop(stock).await;
    (app, shop)
}

/// What [`TestApp::open_shop`] sets up.
#[derive(Debug, Clone)]
pub struct Shop {
    pub admin: Registered,
    pub buyer: Registered,
    /// The id of the product "Pen".
    pub pen: String,
}

/// An order body for `quantity` units of one product, shipped to [`shipping_address`].
pub fn order_of(product_id: &str, quantity: i64) -> Value {
    json!({"items": [{"productId": product_id, "quantity": quantity}], "shippingAddress": shipping_address()})
}

impl Shop {
    /// An order body for `quantity` pens.
    pub fn order_of_pens(&self, quantity: i64) -> Value {
        order_of(&self.pen, quantity)
    }
}

/// A registered user and their token.
#[derive(Debug, Clone)]
pub struct Registered {
    pub id: String,
    pub email: String,
    pub token: String,
}

impl TestApp {
    /// Whether `email` is in this app's `admin_emails`.
    fn listed_as_admin(&self, email: &str) -> bool {
        self.options()
            .variables
            .get("admin_emails")
            .is_some_and(|list| auth::listed_as_admin(email, list))
    }

    /// Registers a user and returns its token; an address in `admin_emails` registers with
    /// the operator's bootstrap token, as an operator would, and so becomes admin.
    pub async fn register(&self, email: &str) -> Registered {
        let mut request = self
            .client
            .post(self.url("/api/users/register"))
            .json(&json!({ "email": email, "password": "correct-horse", "name": "Test User" }));
        if self.listed_as_admin(email)
            && let Some(token) = self.options().variables.get("admin_bootstrap_token")
        {
            request = request.header("x-admin-bootstrap-token", token);
        }
        let answer = self.send(request).await;
        assert_eq!(answer.status, 201, "register {email}: {}", answer.text);
        Registered {
            id: answer.body["data"]["user"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            email: email.to_string(),
            token: answer.body["data"]["token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// Creates a product as `admin` and returns its JSON.
    pub async fn create_product(&self, admin: &Registered, body: &Value) -> Value {
        let answer = self.post_json_as("/api/products", body, &admin.token).await;
        assert_eq!(answer.status, 201, "create product: {}", answer.text);
        answer.body["data"].clone()
    }

    /// Creates a product in category `c` as `admin` and returns its id.
    pub async fn add_product(
        &self,
        admin: &Registered,
        name: &str,
        price: f64,
        stock: i64,
    ) -> String {
        let product = self
            .create_product(
                admin,
                &json!({"name": name, "price": price, "category": "c", "stock": stock}),
            )
            .await;
        product["id"].as_str().expect("id").to_string()
    }

    /// A login with `email` and `password`.
    pub async fn login(&self, email: &str, password: &str) -> Answer {
        self.post_json(
            "/api/users/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// The start of most order stories: an admin (`admin@example.com`), a buyer
    /// (`buyer@example.com`) and a product "Pen" at 1.00 with `stock` units.
    pub async fn open_shop(&self, stock: i64) -> Shop {
        let admin = self.register(crate::TEST_ADMIN_EMAIL).await;
        let buyer = self.register("buyer@example.com").await;
        let pen = self.add_product(&admin, "Pen", 1.0, stock).await;
        Shop { admin, buyer, pen }
    }

    /// Places an order as `buyer`.
    pub async fn place_order(&self, buyer: &Registered, body: &Value) -> Answer {
        self.post_json_as("/api/orders", body, &buyer.token).await
    }

    /// A product's current stock.
    pub async fn stock_of(&self, product_id: &str) -> i64 {
        let answer = self.get(&format!("/api/products/{product_id}")).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body["data"]["stock"].as_i64().unwrap_or(-1)
    }
}
