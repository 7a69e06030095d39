//! The product and stock rows of the contract, through the gateway.

use serde_json::{Value, json};
use storefront_tests::{
    AppOptions, Registered, TestApp, manifest_variant, replace_once, service_token, spawn_app,
    spawn_app_with,
};

async fn admin_and_user(app: &TestApp) -> (Registered, Registered) {
    (
        app.register("admin@example.com").await,
        app.register("shopper@example.com").await,
    )
}

fn mug() -> Value {
    json!({"name": "Blue Mug", "description": "A sturdy ceramic mug", "price": 12.5, "category": "kitchen", "stock": 10})
}

#[tokio::test]
async fn admins_create_products_with_exact_prices_and_defaults() {
    let app = spawn_app().await;
    let (admin, _) = admin_and_user(&app).await;

    let product = app
        .create_product(&admin, &json!({"name": " Pen ", "price": 19.99, "category": "office", "role": "x", "isActive": false}))
        .await;

    assert_eq!(product["name"], "Pen");
    assert_eq!(product["price"], json!(19.99));
    assert_eq!(product["stock"], 0);
    assert_eq!(product["description"], "");
    assert_eq!(product["isActive"], true);
    for field in ["id", "category", "createdAt", "updatedAt"] {
        assert!(product.get(field).is_some(), "{field}");
    }
    let fetched = app
        .get(&format!(
            "/api/products/{}",
            product["id"].as_str().unwrap_or_default()
        ))
        .await;
    assert_eq!(fetched.body["data"], product);
}

#[tokio::test]
async fn creating_products_needs_an_admin_token() {
    let app = spawn_app().await;
    let (_, user) = admin_and_user(&app).await;

    let anonymous = app.post_json("/api/products", &mug()).await;
    let as_user = app.post_json_as("/api/products", &mug(), &user.token).await;

    assert_eq!(anonymous.status, 401);
    assert_eq!(as_user.status, 403);
    assert_eq!(as_user.body["error"]["code"], "FORBIDDEN");
}

#[tokio::test]
async fn invalid_products_are_400_naming_the_field() {
    let app = spawn_app().await;
    let (admin, _) = admin_and_user(&app).await;
    let cases = [
        (json!({"name": "A", "price": 0, "category": "c"}), "price"),
        (
            json!({"name": "A", "price": 1.999, "category": "c"}),
            "price",
        ),
        (
            json!({"name": "A", "price": "10", "category": "c"}),
            "price",
        ),
        (json!({"name": "A", "price": -3, "category": "c"}), "price"),
        (
            json!({"name": "A", "price": 1, "category": "c", "stock": -1}),
            "stock",
        ),
        (
            json!({"name": "A", "price": 1, "category": "c", "stock": 2.5}),
            "stock",
        ),
        (json!({"name": "A", "price": 1, "category": 7}), "category"),
    ];

    for (body, field) in cases {
        let answer = app.post_json_as("/api/products", &body, &admin.token).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.text);
        assert!(
            answer.body["error"]["details"]["invalidFields"][field].is_string(),
            "{body}: {}",
            answer.text
        );
    }
    let missing = app
        .post_json_as("/api/products", &json!({"name": "A"}), &admin.token)
        .await;
    assert_eq!(
        missing.body["error"]["details"]["missingFields"],
        json!(["price", "category"])
    );
}

#[tokio::test]
async fn unknown_product_is_404_with_its_id() {
    let app = spawn_app().await;

    let answer = app.get("/api/products/prd_nope").await;

    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["error"]["code"], "NOT_FOUND");
    assert_eq!(answer.body["error"]["details"]["productId"], "prd_nope");
}

#[tokio::test]
async fn listing_filters_by_category_and_inclusive_price_bounds_newest_first() {
    let app = spawn_app().await;
    let (admin, _) = admin_and_user(&app).await;
    for (name, price, category) in [
        ("Cheap", 5.0, "a"),
        ("Mid", 10.0, "a"),
        ("Dear", 20.0, "a"),
        ("Other", 10.0, "b"),
    ] {
        app.create_product(
            &admin,
            &json!({"name": name, "price": price, "category": category}),
        )
        .await;
    }

    let answer = app
        .get("/api/products?category=a&minPrice=5&maxPrice=10")
        .await;
    let everything = app.get("/api/products?limit=2&page=2").await;
    let past_end = app.get("/api/products?page=9").await;
    let nothing = app.get("/api/products?category=none").await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    let names: Vec<&str> = answer.body["data"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, vec!["Mid", "Cheap"]);
    assert_eq!(answer.body["meta"]["pagination"]["total"], 2);
    assert_eq!(everything.body["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(everything.body["meta"]["pagination"]["hasPrev"], true);
    assert_eq!(past_end.body["data"], json!([]));
    assert_eq!(nothing.body["meta"]["pagination"]["totalPages"], 0);
}

#[tokio::test]
async fn search_is_full_text_over_name_and_description_ranked() {
    let app = spawn_app().await;
    let (admin, _) = admin_and_user(&app).await;
    app.create_product(
        &admin,
        &json!({"name": "Garden hose", "description": "green rubber", "price": 9, "category": "g"}),
    )
    .await;
    app.create_product(&admin, &json!({"name": "Rubber duck", "description": "rubber rubber duck", "price": 3, "category": "t"})).await;
    app.create_product(
        &admin,
        &json!({"name": "Teapot", "description": "porcelain", "price": 30, "category": "k"}),
    )
    .await;

    let rubber = app.get("/api/products?search=rubber").await;
    let prefix = app.get("/api/products?search=porc").await;
    let injection = app
        .get("/api/products?search=name%3Ateapot%20OR%20%22")
        .await;

    let names: Vec<&str> = rubber.body["data"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        vec!["Rubber duck", "Garden hose"],
        "best match first"
    );
    assert_eq!(prefix.body["data"][0]["name"], "Teapot");
    assert_eq!(
        injection.status, 200,
        "FTS syntax is neutralised: {}",
        injection.text
    );
}

#[tokio::test]
async fn bad_list_parameters_are_400() {
    let app = spawn_app().await;

    for query in [
        "page=0",
        "limit=101",
        "limit=abc",
        "minPrice=abc",
        "maxPrice=1.234",
        "minPrice=10&maxPrice=5",
        "search=%21%21",
    ] {
        let answer = app.get(&format!("/api/products?{query}")).await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.text);
        assert_eq!(answer.body["error"]["code"], "VALIDATION_ERROR", "{query}");
    }
}

#[tokio::test]
async fn stock_changes_report_before_and_after_and_never_go_below_zero() {
    let app = spawn_app().await;
    let (admin, user) = admin_and_user(&app).await;
    let product = app.create_product(&admin, &mug()).await;
    let id = product["id"].as_str().expect("id");
    let stock_url = format!("/api/products/{id}/stock");

    let up = app
        .patch_json_as(
            &stock_url,
            &json!({"quantity": 5, "operation": "increase"}),
            &admin.token,
        )
        .await;
    let down = app
        .patch_json_as(
            &stock_url,
            &json!({"quantity": 15, "operation": "decrease"}),
            &admin.token,
        )
        .await;
    let too_far = app
        .patch_json_as(
            &stock_url,
            &json!({"quantity": 1, "operation": "decrease"}),
            &admin.token,
        )
        .await;
    let as_user = app
        .patch_json_as(
            &stock_url,
            &json!({"quantity": 1, "operation": "increase"}),
            &user.token,
        )
        .await;
    let bad = app
        .patch_json_as(
            &stock_url,
            &json!({"quantity": 0, "operation": "sideways"}),
            &admin.token,
        )
        .await;

    assert_eq!(up.status, 200, "{}", up.text);
    assert_eq!(
        up.body["data"],
        json!({"productId": id, "previousStock": 10, "newStock": 15})
    );
    assert_eq!(down.body["data"]["newStock"], 0);
    assert_eq!(too_far.status, 409);
    assert_eq!(too_far.body["error"]["code"], "INSUFFICIENT_STOCK");
    assert_eq!(as_user.status, 403);
    assert_eq!(bad.status, 400);
    assert_eq!(app.stock_of(id).await, 0);
}

#[tokio::test]
async fn fifty_concurrent_decrements_on_stock_twenty_leave_exactly_zero() {
    let app = spawn_app().await;
    let (admin, _) = admin_and_user(&app).await;
    let product = app
        .create_product(
            &admin,
            &json!({"name": "Hot item", "price": 1, "category": "c", "stock": 20}),
        )
        .await;
    let id = product["id"].as_str().expect("id").to_string();
    let stock_url = format!("/api/products/{id}/stock");
    let decrement = json!({"quantity": 1, "operation": "decrease"});

    let requests = (0..50).map(|_| app.patch_json_as(&stock_url, &decrement, &admin.token));
    let answers = futures::future::join_all(requests).await;

    let successes = answers.iter().filter(|a| a.status == 200).count();
    let refusals = answers.iter().filter(|a| a.status == 409).count();
    assert_eq!(
        (successes, refusals),
        (20, 30),
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(app.stock_of(&id).await, 0);
}

/// `request` signed as the order service signs its calls to the product service.
fn as_order_service(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.header(
        "x-service-token",
        service_token("order-service", "product-service"),
    )
}

/// The app with the product service also mounted publicly under `/direct/products-svc`
/// (as if deployed on its own), to reach its private reservation endpoints.
async fn app_with_direct_product_service() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = manifest_variant(&dir, |text| {
        replace_once(
            &text,
            "[[trigger.http]]\nroute = { private = true }\ncomponent = \"product-service\"",
            "[[trigger.http]]\nroute = \"/direct/products-svc/...\"\ncomponent = \"product-service\"",
        )
    });
    let app = spawn_app_with(AppOptions {
        manifest,
        ..AppOptions::default()
    })
    .await;
    std::mem::forget(dir);
    app
}

#[tokio::test]
async fn reserving_the_same_order_twice_changes_stock_once_and_release_is_idempotent() {
    let app = app_with_direct_product_service().await;
    let (admin, _) = admin_and_user(&app).await;
    let product = app
        .create_product(
            &admin,
            &json!({"name": "Lamp", "price": 25.5, "category": "home", "stock": 5}),
        )
        .await;
    let id = product["id"].as_str().expect("id");
    let body = json!({"orderId": "ord_1", "items": [{"productId": id, "quantity": 2}]});
    let reserve = || {
        app.send(
            as_order_service(
                app.client
                    .post(app.url("/direct/products-svc/reservations")),
            )
            .json(&body),
        )
    };

    let first = reserve().await;
    let second = reserve().await;
    let release_url = app.url("/direct/products-svc/reservations/ord_1/release");
    let released = app
        .send(as_order_service(app.client.post(&release_url)))
        .await;
    let stock_after_release = app.stock_of(id).await;
    let released_again = app
        .send(as_order_service(app.client.post(&release_url)))
        .await;

    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["data"]["items"][0]["productName"], "Lamp");
    assert_eq!(first.body["data"]["items"][0]["unitPriceCents"], 2550);
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.body["data"], first.body["data"]);
    assert_eq!(released.status, 200);
    assert_eq!(stock_after_release, 5);
    assert_eq!(released_again.status, 200);
    assert_eq!(
        app.stock_of(id).await,
        5,
        "a second release gives nothing back"
    );
}

#[tokio::test]
async fn a_reservation_is_all_or_nothing() {
    let app = app_with_direct_product_service().await;
    let (admin, _) = admin_and_user(&app).await;
    let plenty = app
        .create_product(
            &admin,
            &json!({"name": "Plenty", "price": 1, "category": "c", "stock": 100}),
        )
        .await;
    let scarce = app
        .create_product(
            &admin,
            &json!({"name": "Scarce", "price": 1, "category": "c", "stock": 1}),
        )
        .await;
    let (plenty, scarce) = (
        plenty["id"].as_str().expect("id"),
        scarce["id"].as_str().expect("id"),
    );
    let url = app.url("/direct/products-svc/reservations");

    let short = app
        .send(
            as_order_service(app.client.post(&url)).json(&json!({"orderId": "o1", "items": [
            {"productId": plenty, "quantity": 10}, {"productId": scarce, "quantity": 2}]})),
        )
        .await;
    let unknown = app
        .send(
            as_order_service(app.client.post(&url)).json(&json!({"orderId": "o2", "items": [
            {"productId": plenty, "quantity": 10}, {"productId": "prd_missing", "quantity": 1}]})),
        )
        .await;

    assert_eq!(short.status, 409, "{}", short.text);
    assert_eq!(
        short.body["error"]["details"],
        json!({"productId": scarce, "requested": 2, "available": 1})
    );
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.body["error"]["details"]["productId"], "prd_missing");
    assert_eq!(app.stock_of(plenty).await, 100);
    assert_eq!(app.stock_of(scarce).await, 1);
}

#[tokio::test]
async fn reservations_answer_only_the_order_service_with_a_valid_service_token() {
    // Arrange: the product service reachable directly, as if deployed on its own.
    let app = app_with_direct_product_service().await;
    let (admin, user) = admin_and_user(&app).await;
    let product = app
        .create_product(
            &admin,
            &json!({"name": "Lamp", "price": 2, "category": "home", "stock": 5}),
        )
        .await;
    let body = json!({"orderId": "ord_x", "items": [{"productId": product["id"], "quantity": 5}]});
    let url = app.url("/direct/products-svc/reservations");

    // Act
    let anonymous = app.send(app.client.post(&url).json(&body)).await;
    let with_user_token = app
        .send(app.authed(app.client.post(&url), &user.token).json(&body))
        .await;
    let addressed_elsewhere = app
        .send(
            app.client
                .post(&url)
                .header(
                    "x-service-token",
                    service_token("order-service", "notification-service"),
                )
                .json(&body),
        )
        .await;
    let from_another_service = app
        .send(
            app.client
                .post(&url)
                .header(
                    "x-service-token",
                    service_token("user-service", "product-service"),
                )
                .json(&body),
        )
        .await;
    let release = app
        .send(
            app.authed(
                app.client
                    .post(app.url("/direct/products-svc/reservations/ord_x/release")),
                &user.token,
            ),
        )
        .await;

    // Assert
    for answer in [
        &anonymous,
        &with_user_token,
        &addressed_elsewhere,
        &from_another_service,
        &release,
    ] {
        assert_eq!(answer.status, 401, "{}", answer.text);
        assert_eq!(answer.body["error"]["code"], "UNAUTHORIZED");
    }
    assert_eq!(app.stock_of(product["id"].as_str().expect("id")).await, 5);
}

#[tokio::test]
async fn a_release_that_arrives_before_its_reservation_keeps_that_reservation_from_taking_stock() {
    // Arrange: the order service gave up on an order (a timeout, a crash) and released it
    // while the reservation was still on its way.
    let app = app_with_direct_product_service().await;
    let (admin, _) = admin_and_user(&app).await;
    let product = app
        .create_product(
            &admin,
            &json!({"name": "Lamp", "price": 2, "category": "home", "stock": 5}),
        )
        .await;
    let id = product["id"].as_str().expect("id");

    // Act
    let released = app
        .send(as_order_service(app.client.post(
            app.url("/direct/products-svc/reservations/ord_late/release"),
        )))
        .await;
    let late = app
        .send(
            as_order_service(
                app.client
                    .post(app.url("/direct/products-svc/reservations")),
            )
            .json(&json!({"orderId": "ord_late", "items": [{"productId": id, "quantity": 2}]})),
        )
        .await;

    // Assert
    assert_eq!(released.status, 200, "{}", released.text);
    assert_eq!(released.body["data"]["status"], "released");
    assert_eq!(late.status, 409, "{}", late.text);
    assert_eq!(late.body["error"]["details"]["orderId"], "ord_late");
    assert_eq!(app.stock_of(id).await, 5);
}

#[tokio::test]
async fn prices_are_read_from_the_exact_text_sent_not_from_a_double() {
    let app = spawn_app().await;
    let (admin, _) = admin_and_user(&app).await;
    let create = |raw: &'static str| {
        app.send(
            app.authed(app.client.post(app.url("/api/products")), &admin.token)
                .header("content-type", "application/json")
                .body(raw),
        )
    };

    // A double would read these as 20 and 100.
    let many_decimals =
        create(r#"{"name": "A", "price": 19.999999999999999, "category": "c"}"#).await;
    let exponent = create(r#"{"name": "A", "price": 1e2, "category": "c"}"#).await;
    let exact = create(r#"{"name": "A", "price": 19.90, "category": "c"}"#).await;

    for answer in [&many_decimals, &exponent] {
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert!(
            answer.body["error"]["details"]["invalidFields"]["price"].is_string(),
            "{}",
            answer.text
        );
    }
    assert_eq!(exact.status, 201, "{}", exact.text);
    assert_eq!(exact.body["data"]["price"], 19.9);
}
