//! The user rows of the contract, through the gateway.

use serde_json::json;
use storefront_tests::{AppOptions, spawn_app};

#[tokio::test]
async fn register_returns_the_user_and_a_token_without_the_password() {
    let app = spawn_app().await;

    let answer = app
        .post_json(
            "/api/users/register",
            &json!({"email": " Ann@Example.com ", "password": "correct-horse", "name": " Ann "}),
        )
        .await;

    assert_eq!(answer.status, 201, "{}", answer.text);
    let user = &answer.body["data"]["user"];
    assert_eq!(user["email"], "Ann@Example.com");
    assert_eq!(user["name"], "Ann");
    assert_eq!(user["role"], "user");
    assert!(user["id"].is_string() && user["createdAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(
        answer.body["data"]["token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    assert!(!answer.text.contains("correct-horse"));
    assert!(!answer.text.contains("argon2"));
    assert_eq!(answer.body["meta"]["service"], "user-service");
}

#[tokio::test]
async fn register_lists_exactly_the_missing_fields() {
    let app = spawn_app().await;

    let answer = app
        .post_json(
            "/api/users/register",
            &json!({"email": "a@b.co", "name": ""}),
        )
        .await;

    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(
        answer.body["error"]["details"]["missingFields"],
        json!(["password", "name"])
    );
}

#[tokio::test]
async fn register_rejects_invalid_email_short_password_and_wrong_types() {
    let app = spawn_app().await;

    let bad_email = app
        .post_json(
            "/api/users/register",
            &json!({"email": "nope", "password": "correct-horse", "name": "A"}),
        )
        .await;
    let short = app
        .post_json(
            "/api/users/register",
            &json!({"email": "a@b.co", "password": "short", "name": "A"}),
        )
        .await;
    let wrong_type = app
        .post_json(
            "/api/users/register",
            &json!({"email": 42, "password": "correct-horse", "name": "A"}),
        )
        .await;

    for (answer, field) in [
        (bad_email, "email"),
        (short, "password"),
        (wrong_type, "email"),
    ] {
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert_eq!(answer.body["error"]["code"], "VALIDATION_ERROR");
        assert!(
            answer.body["error"]["details"]["invalidFields"][field].is_string(),
            "{}",
            answer.text
        );
    }
}

#[tokio::test]
async fn malformed_json_is_400_and_other_content_types_415() {
    let app = spawn_app().await;

    let malformed = app
        .send(
            app.client
                .post(app.url("/api/users/register"))
                .header("content-type", "application/json")
                .body("{\"email\":"),
        )
        .await;
    let form = app
        .send(
            app.client
                .post(app.url("/api/users/register"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("email=a"),
        )
        .await;

    assert_eq!(malformed.status, 400, "{}", malformed.text);
    assert_eq!(malformed.body["error"]["code"], "BAD_REQUEST");
    assert_eq!(form.status, 415, "{}", form.text);
}

#[tokio::test]
async fn duplicate_email_in_any_case_is_409_even_when_concurrent() {
    let app = spawn_app().await;
    app.register("dup@example.com").await;

    let again = app
        .post_json(
            "/api/users/register",
            &json!({"email": "DUP@example.COM", "password": "correct-horse", "name": "B"}),
        )
        .await;
    let racers = concurrent_registrations(&app, "race@example.com").await;

    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.body["error"]["code"], "CONFLICT");
    let created = racers.iter().filter(|s| **s == 201).count();
    let conflicts = racers.iter().filter(|s| **s == 409).count();
    assert_eq!((created, conflicts), (1, racers.len() - 1), "{racers:?}");
}

/// Six registrations of one email, all in flight at once.
async fn concurrent_registrations(app: &storefront_tests::TestApp, email: &str) -> Vec<u16> {
    let body = json!({"email": email, "password": "correct-horse", "name": "Racer"});
    let requests = (0..6).map(|_| app.post_json("/api/users/register", &body));
    futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|answer| answer.status)
        .collect()
}

#[tokio::test]
async fn login_matches_email_case_insensitively() {
    let app = spawn_app().await;
    app.register("login@example.com").await;

    let answer = app
        .post_json(
            "/api/users/login",
            &json!({"email": "LOGIN@example.com", "password": "correct-horse"}),
        )
        .await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["data"]["user"]["email"], "login@example.com");
    assert!(answer.body["data"]["token"].is_string());
}

#[tokio::test]
async fn login_gives_the_same_401_for_unknown_email_and_wrong_password() {
    let app = spawn_app().await;
    app.register("known@example.com").await;

    let wrong_password = app
        .post_json(
            "/api/users/login",
            &json!({"email": "known@example.com", "password": "not-the-password"}),
        )
        .await;
    let unknown = app
        .post_json(
            "/api/users/login",
            &json!({"email": "ghost@example.com", "password": "whatever-pass"}),
        )
        .await;
    let missing = app
        .post_json("/api/users/login", &json!({"email": "known@example.com"}))
        .await;

    assert_eq!(wrong_password.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong_password.body["message"], unknown.body["message"]);
    assert_eq!(wrong_password.body["error"], unknown.body["error"]);
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.body["error"]["details"]["missingFields"],
        json!(["password"])
    );
}

#[tokio::test]
async fn me_needs_a_valid_token_and_returns_the_profile() {
    let app = spawn_app().await;
    let user = app.register("me@example.com").await;

    let me = app.get_as("/api/users/me", &user.token).await;
    let anonymous = app.get("/api/users/me").await;
    let forged = app.get_as("/api/users/me", "a.b.c").await;

    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["data"]["id"], user.id.as_str());
    assert_eq!(me.body["data"]["email"], "me@example.com");
    assert!(me.body["data"].get("passwordHash").is_none());
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.body["error"]["code"], "UNAUTHORIZED");
    assert_eq!(forged.status, 401);
}

#[tokio::test]
async fn listing_users_is_for_admins_newest_first_and_paginated() {
    let app = spawn_app().await;
    let admin = app.register("Admin@Example.com").await;
    let user = app.register("plain@example.com").await;
    app.register("third@example.com").await;

    let as_admin = app.get_as("/api/users?page=1&limit=2", &admin.token).await;
    let page_two = app.get_as("/api/users?page=2&limit=2", &admin.token).await;
    let as_user = app.get_as("/api/users", &user.token).await;
    let anonymous = app.get("/api/users").await;
    let bad_limit = app.get_as("/api/users?limit=0", &admin.token).await;

    assert_eq!(as_admin.status, 200, "{}", as_admin.text);
    let emails: Vec<&str> = as_admin.body["data"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert_eq!(emails, vec!["third@example.com", "plain@example.com"]);
    let pagination = &as_admin.body["meta"]["pagination"];
    assert_eq!(
        (
            pagination["total"].as_u64(),
            pagination["totalPages"].as_u64()
        ),
        (Some(3), Some(2))
    );
    assert_eq!(pagination["hasNext"], true);
    assert_eq!(page_two.body["data"].as_array().map(Vec::len), Some(1));
    assert!(!as_admin.text.contains("argon2"));
    assert_eq!(as_user.status, 403);
    assert_eq!(as_user.body["error"]["code"], "FORBIDDEN");
    assert_eq!(anonymous.status, 401);
    assert_eq!(bad_limit.status, 400);
}

#[tokio::test]
async fn admin_role_comes_from_admin_emails_not_from_the_client() {
    let app = spawn_app().await;

    let sneaky = app
        .post_json("/api/users/register", &json!({"email": "sneaky@example.com", "password": "correct-horse", "name": "S", "role": "admin"}))
        .await;
    let admin = app.register("admin@example.com").await;
    let me = app.get_as("/api/users/me", &admin.token).await;

    assert_eq!(sneaky.body["data"]["user"]["role"], "user");
    assert_eq!(me.body["data"]["role"], "admin");
}

#[tokio::test]
async fn client_identity_headers_are_ignored() {
    let app = spawn_app().await;

    let answer = app
        .send(
            app.client
                .get(app.url("/api/users"))
                .header("x-user-id", "usr_1")
                .header("x-user-role", "admin"),
        )
        .await;

    assert_eq!(answer.status, 401, "{}", answer.text);
}

#[tokio::test]
async fn removing_an_address_from_admin_emails_demotes_at_the_next_login_and_refresh() {
    // Arrange: an admin, then the deployment drops the address from admin_emails.
    let app = spawn_app().await;
    let admin = app.register("admin@example.com").await;
    let app = app
        .restart_with(AppOptions::default().variable("admin_emails", "boss@example.com"))
        .await;

    // Act
    let refreshed = app
        .send(app.authed(
            app.client.post(app.url("/api/users/token/refresh")),
            &admin.token,
        ))
        .await;
    let login = app
        .post_json(
            "/api/users/login",
            &json!({"email": "admin@example.com", "password": "correct-horse"}),
        )
        .await;
    let token = login.body["data"]["token"].as_str().unwrap_or_default();
    let create = app
        .post_json_as(
            "/api/products",
            &json!({"name": "Pen", "price": 1, "category": "c"}),
            token,
        )
        .await;

    // Assert
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_eq!(refreshed.body["data"]["user"]["role"], "user");
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.body["data"]["user"]["role"], "user");
    assert_eq!(create.status, 403, "{}", create.text);
}

#[tokio::test]
async fn a_token_issued_before_its_address_left_admin_emails_loses_admin_rights_at_once() {
    // Arrange: an admin's token and another user's order, then the deployment drops the
    // admin's address from admin_emails. The token itself is still valid for hours.
    let app = spawn_app().await;
    let shop = app.open_shop(5).await;
    let admin = shop.admin.clone();
    let order = app.place_order(&shop.buyer, &shop.order_of_pens(1)).await;
    assert_eq!(order.status, 201, "{}", order.text);
    let app = app
        .restart_with(AppOptions::default().variable("admin_emails", "boss@example.com"))
        .await;

    // Act: the old token on what only admins may do: two admin routes (refused by the
    // gateway) and another user's order (which the order service shows only to admins).
    let create = app
        .post_json_as(
            "/api/products",
            &json!({"name": "Pen", "price": 1, "category": "c"}),
            &admin.token,
        )
        .await;
    let users = app.get_as("/api/users", &admin.token).await;
    let others_order = app
        .get_as(
            &format!(
                "/api/orders/{}",
                order.body["data"]["id"].as_str().unwrap_or_default()
            ),
            &admin.token,
        )
        .await;
    let own_profile = app.get_as("/api/users/me", &admin.token).await;

    // Assert
    assert_eq!(create.status, 403, "{}", create.text);
    assert_eq!(users.status, 403, "{}", users.text);
    assert_eq!(others_order.status, 404, "{}", others_order.text);
    assert_eq!(own_profile.status, 200, "{}", own_profile.text);
    assert_eq!(own_profile.body["data"]["role"], "user");
}

#[tokio::test]
async fn a_token_refresh_needs_a_valid_token() {
    let app = spawn_app().await;

    let without = app
        .send(app.client.post(app.url("/api/users/token/refresh")))
        .await;
    let forged = app
        .send(app.authed(
            app.client.post(app.url("/api/users/token/refresh")),
            "a.b.c",
        ))
        .await;

    assert_eq!(without.status, 401, "{}", without.text);
    assert_eq!(forged.status, 401, "{}", forged.text);
}

#[tokio::test]
async fn look_alike_and_invisible_characters_cannot_claim_an_address_or_hide_in_a_name() {
    let app = spawn_app().await;
    let app = &app;
    let register = |email: &str, name: &str| {
        let body = json!({"email": email, "password": "correct-horse", "name": name});
        async move { app.post_json("/api/users/register", &body).await }
    };

    // The Kelvin sign (U+212A) and fullwidth letters look like `k` and `a`.
    let kelvin = register("\u{212A}ate@example.com", "Kate").await;
    let fullwidth = register("ａdmin@example.com", "Admin").await;
    let zero_width = register("ad\u{200B}min@example.com", "Admin").await;
    let reversed_name = register("eve@example.com", "\u{202E}nimda").await;

    for answer in [&kelvin, &fullwidth, &zero_width] {
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert!(answer.body["error"]["details"]["invalidFields"]["email"].is_string());
    }
    assert_eq!(reversed_name.status, 400, "{}", reversed_name.text);
    assert!(reversed_name.body["error"]["details"]["invalidFields"]["name"].is_string());
}
