//! The product and stock rows of the contract, through the gateway.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use storefront_tests::{
    AppOptions, Registered, TestApp, count_by_status, service_token, spawn_app, spawn_app_with,
    spawn_shop,
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
    as_user.assert_error(403, "FORBIDDEN");
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
            answer.details()["invalidFields"][field].is_string(),
            "{body}: {}",
            answer.text
        );
    }
    let missing = app
        .post_json_as("/api/products", &json!({"name": "A"}), &admin.token)
        .await;
    missing.assert_missing_fields(&["price", "category"]);
}

#[tokio::test]
async fn unknown_product_is_404_with_its_id() {
    let app = spawn_app().await;

    let answer = app.get("/api/products/prd_nope").await;

    answer.assert_error(404, "NOT_FOUND");
    assert_eq!(answer.details()["productId"], "prd_nope");
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
    assert_eq!(answer.each("name"), ["Mid", "Cheap"]);
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

    assert_eq!(
        rubber.each("name"),
        ["Rubber duck", "Garden hose"],
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
    let change = |who: &Registered, quantity: i64, operation: &str| {
        let body = json!({"quantity": quantity, "operation": operation});
        let token = who.token.clone();
        let stock_url = &stock_url;
        let app = &app;
        async move { app.patch_json_as(stock_url, &body, &token).await }
    };

    let up = change(&admin, 5, "increase").await;
    let down = change(&admin, 15, "decrease").await;
    let too_far = change(&admin, 1, "decrease").await;
    let as_user = change(&user, 1, "increase").await;
    let bad = change(&admin, 0, "sideways").await;

    assert_eq!(up.status, 200, "{}", up.text);
    assert_eq!(
        up.body["data"],
        json!({"productId": id, "previousStock": 10, "newStock": 15})
    );
    assert_eq!(down.body["data"]["newStock"], 0);
    too_far.assert_error(409, "INSUFFICIENT_STOCK");
    assert_eq!(as_user.status, 403);
    assert_eq!(bad.status, 400);
    assert_eq!(app.stock_of(id).await, 0);
}

#[tokio::test]
async fn fifty_concurrent_decrements_on_stock_twenty_leave_exactly_zero() {
    let (app, shop) = spawn_shop(20).await;
    let stock_url = format!("/api/products/{}/stock", shop.pen);
    let decrement = json!({"quantity": 1, "operation": "decrease"});

    let requests = (0..50).map(|_| app.patch_json_as(&stock_url, &decrement, &shop.admin.token));
    let answers = futures::future::join_all(requests).await;

    assert_eq!(
        count_by_status(&answers),
        BTreeMap::from([(200, 20), (409, 30)])
    );
    assert_eq!(app.stock_of(&shop.pen).await, 0);
}

/// `request` signed as the order service signs its calls to the product service.
fn as_order_service(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.header(
        "x-service-token",
        service_token("order-service", "product-service"),
    )
}

/// The app with the product service's endpoints for the order service reachable from outside.
async fn app_with_direct_product_service() -> TestApp {
    spawn_app_with(AppOptions::default().exposing_private_endpoints()).await
}

/// The URL of a product-service endpoint for the order service.
fn direct(app: &TestApp, path: &str) -> String {
    app.private_url(platform::Service::Products, path)
}

#[tokio::test]
async fn reserving_the_same_order_twice_changes_stock_once_and_release_is_idempotent() {
    let app = app_with_direct_product_service().await;
    let (admin, _) = admin_and_user(&app).await;
    let id = &app.add_product(&admin, "Lamp", 25.5, 5).await;
    let body = json!({"orderId": "ord_1", "items": [{"productId": id, "quantity": 2}]});
    let reserve =
        || app.send(as_order_service(app.client.post(direct(&app, "/reservations"))).json(&body));

    let first = reserve().await;
    let second = reserve().await;
    let release_url = direct(&app, "/reservations/ord_1/release");
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
    let plenty = &app.add_product(&admin, "Plenty", 1.0, 100).await;
    let scarce = &app.add_product(&admin, "Scarce", 1.0, 1).await;
    let url = direct(&app, "/reservations");

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
        *short.details(),
        json!({"productId": scarce, "requested": 2, "available": 1})
    );
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.details()["productId"], "prd_missing");
    assert_eq!(app.stock_of(plenty).await, 100);
    assert_eq!(app.stock_of(scarce).await, 1);
}

#[tokio::test]
async fn reservations_answer_only_the_order_service_with_a_valid_service_token() {
    // Arrange: the product service reachable directly, as if deployed on its own.
    let app = app_with_direct_product_service().await;
    let (admin, user) = admin_and_user(&app).await;
    let product = app.add_product(&admin, "Lamp", 2.0, 5).await;
    let body = json!({"orderId": "ord_x", "items": [{"productId": product, "quantity": 5}]});
    let url = direct(&app, "/reservations");

    // Act
    let anonymous = app.send(app.client.post(&url).json(&body)).await;
    let with_user_token = app
        .send(app.authed(app.client.post(&url), &user.token).json(&body))
        .await;
    let signed_by = |caller: &str, target: &str| {
        app.send(
            app.client
                .post(&url)
                .header("x-service-token", service_token(caller, target))
                .json(&body),
        )
    };
    let addressed_elsewhere = signed_by("order-service", "notification-service").await;
    let from_another_service = signed_by("user-service", "product-service").await;
    let release = app
        .send(app.authed(
            app.client.post(direct(&app, "/reservations/ord_x/release")),
            &user.token,
        ))
        .await;

    // Assert
    for answer in [
        &anonymous,
        &with_user_token,
        &addressed_elsewhere,
        &from_another_service,
        &release,
    ] {
        answer.assert_error(401, "UNAUTHORIZED");
    }
    assert_eq!(app.stock_of(&product).await, 5);
}

#[tokio::test]
async fn a_release_that_arrives_before_its_reservation_keeps_that_reservation_from_taking_stock() {
    // Arrange: the order service gave up on an order (a timeout, a crash) and released it
    // while the reservation was still on its way.
    let app = app_with_direct_product_service().await;
    let (admin, _) = admin_and_user(&app).await;
    let id = &app.add_product(&admin, "Lamp", 2.0, 5).await;

    // Act
    let released = app
        .send(as_order_service(
            app.client
                .post(direct(&app, "/reservations/ord_late/release")),
        ))
        .await;
    let late = app
        .send(
            as_order_service(app.client.post(direct(&app, "/reservations")))
                .json(&json!({"orderId": "ord_late", "items": [{"productId": id, "quantity": 2}]})),
        )
        .await;

    // Assert
    assert_eq!(released.status, 200, "{}", released.text);
    assert_eq!(released.body["data"]["status"], "released");
    assert_eq!(late.status, 409, "{}", late.text);
    assert_eq!(late.details()["orderId"], "ord_late");
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
            answer.details()["invalidFields"]["price"].is_string(),
            "{}",
            answer.text
        );
    }
    assert_eq!(exact.status, 201, "{}", exact.text);
    assert_eq!(exact.body["data"]["price"], 19.9);
}

#[tokio::test]
async fn an_admin_changes_any_field_by_the_rules_of_create_and_updated_at_moves_on() {
    // Arrange
    let app = spawn_app().await;
    let (admin, user) = admin_and_user(&app).await;
    let product = app.create_product(&admin, &mug()).await;
    let path = format!(
        "/api/products/{}",
        product["id"].as_str().unwrap_or_default()
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    // Act
    let changed = app
        .patch_json_as(
            &path,
            &json!({"name": " Red Mug ", "price": 14.99, "category": "dining", "description": "red"}),
            &admin.token,
        )
        .await;
    let invalid = app
        .patch_json_as(&path, &json!({"price": 0, "name": ""}), &admin.token)
        .await;
    let empty = app.patch_json_as(&path, &json!({}), &admin.token).await;
    let as_user = app
        .patch_json_as(&path, &json!({"price": 1}), &user.token)
        .await;
    let missing = app
        .patch_json_as(
            "/api/products/prd_ghost",
            &json!({"price": 1}),
            &admin.token,
        )
        .await;

    // Assert
    assert_eq!(changed.status, 200, "{}", changed.text);
    let data = &changed.body["data"];
    assert_eq!(data["name"], "Red Mug");
    assert_eq!(data["price"], json!(14.99));
    assert_eq!(data["category"], "dining");
    assert_eq!(data["stock"], product["stock"]);
    assert!(data["updatedAt"].as_str() > product["updatedAt"].as_str());
    assert_eq!(data["createdAt"], product["createdAt"]);
    assert_eq!(invalid.status, 400, "{}", invalid.text);
    assert!(invalid.details()["invalidFields"]["price"].is_string());
    assert_eq!(empty.status, 400, "{}", empty.text);
    assert_eq!(as_user.status, 403);
    assert_eq!(missing.status, 404, "{}", missing.text);
    assert_eq!(missing.details()["productId"], "prd_ghost");
    let found = app.get("/api/products?search=red").await;
    assert_eq!(
        found.body["data"][0]["name"], "Red Mug",
        "search follows the new name"
    );
}

#[tokio::test]
async fn a_price_change_never_changes_existing_orders() {
    let (app, shop) = spawn_shop(5).await;
    let order = app.place_order(&shop.buyer, &shop.order_of_pens(2)).await;
    assert_eq!(order.status, 201, "{}", order.text);

    let repriced = app
        .patch_json_as(
            &format!("/api/products/{}", shop.pen),
            &json!({"price": 9.5}),
            &shop.admin.token,
        )
        .await;
    let read = app
        .get_as(
            &format!(
                "/api/orders/{}",
                order.body["data"]["id"].as_str().unwrap_or_default()
            ),
            &shop.buyer.token,
        )
        .await;

    assert_eq!(repriced.status, 200, "{}", repriced.text);
    assert_eq!(
        read.body["data"]["items"][0]["unitPrice"].as_f64(),
        Some(1.0)
    );
    assert_eq!(read.body["data"]["totalAmount"].as_f64(), Some(2.0));
}

#[tokio::test]
async fn a_withdrawn_product_leaves_the_catalogue_keeps_its_page_and_cannot_be_ordered() {
    // Arrange
    let (app, shop) = spawn_shop(5).await;
    let path = format!("/api/products/{}", shop.pen);

    // Act
    let withdrawn = app
        .patch_json_as(&path, &json!({"isActive": false}), &shop.admin.token)
        .await;
    let listed = app.get("/api/products").await;
    let searched = app.get("/api/products?search=pen").await;
    let page = app.get(&path).await;
    let as_admin = app
        .get_as("/api/products?includeInactive=true", &shop.admin.token)
        .await;
    let as_user = app
        .get_as("/api/products?includeInactive=true", &shop.buyer.token)
        .await;
    let anonymous = app.get("/api/products?includeInactive=true").await;
    let order = app.place_order(&shop.buyer, &shop.order_of_pens(1)).await;

    // Assert
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.text);
    assert_eq!(withdrawn.body["data"]["isActive"], false);
    assert_eq!(listed.body["data"], json!([]));
    assert_eq!(listed.body["meta"]["pagination"]["total"], 0);
    assert_eq!(searched.body["data"], json!([]));
    assert_eq!(page.status, 200);
    assert_eq!(page.body["data"]["isActive"], false);
    assert_eq!(as_admin.status, 200, "{}", as_admin.text);
    assert_eq!(as_admin.body["data"][0]["id"], shop.pen.as_str());
    assert_eq!(as_user.status, 403, "{}", as_user.text);
    assert_eq!(anonymous.status, 403, "{}", anonymous.text);
    order.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(order.details()["productId"], shop.pen.as_str());
    assert_eq!(app.stock_of(&shop.pen).await, 5);
}
