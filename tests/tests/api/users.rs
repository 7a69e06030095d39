//! The user rows of the contract, through the gateway.

use reqwest::Method;
use serde_json::{Value, json};
use storefront_tests::{Answer, AppOptions, TestApp, spawn_app, spawn_shop};

/// A registration with `body` as it is.
async fn register_with(app: &TestApp, body: Value) -> Answer {
    app.post_json("/api/users/register", &body).await
}

/// The token a registration, login or refresh answered with.
fn token_in(answer: &Answer) -> &str {
    answer.body["data"]["token"].as_str().unwrap_or_default()
}

/// An attempt at what only admins may do (create a product) with `token`.
async fn create_product_with(app: &TestApp, token: &str) -> Answer {
    app.post_json_as(
        "/api/products",
        &json!({"name": "Pen", "price": 1, "category": "c"}),
        token,
    )
    .await
}

#[tokio::test]
async fn register_returns_the_user_and_a_token_without_the_password() {
    let app = spawn_app().await;

    let answer = register_with(
        &app,
        json!({"email": " Ann@Example.com ", "password": "correct-horse", "name": " Ann "}),
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

    let answer = register_with(&app, json!({"email": "a@b.co", "name": ""})).await;

    answer.assert_missing_fields(&["password", "name"]);
}

#[tokio::test]
async fn register_rejects_invalid_email_short_password_and_wrong_types() {
    let app = spawn_app().await;

    let cases = [
        (
            json!({"email": "nope", "password": "correct-horse", "name": "A"}),
            "email",
        ),
        (
            json!({"email": "a@b.co", "password": "short", "name": "A"}),
            "password",
        ),
        (
            json!({"email": 42, "password": "correct-horse", "name": "A"}),
            "email",
        ),
    ];

    for (body, field) in cases {
        let answer = register_with(&app, body).await;
        answer.assert_error(400, "VALIDATION_ERROR");
        assert!(
            answer.details()["invalidFields"][field].is_string(),
            "{}",
            answer.text
        );
    }
}

#[tokio::test]
async fn malformed_json_is_400_and_other_content_types_415() {
    let app = spawn_app().await;

    let malformed = app
        .post_raw("/api/users/register", "application/json", "{\"email\":")
        .await;
    let form = app
        .post_raw(
            "/api/users/register",
            "application/x-www-form-urlencoded",
            "email=a",
        )
        .await;

    malformed.assert_error(400, "BAD_REQUEST");
    assert_eq!(form.status, 415, "{}", form.text);
}

#[tokio::test]
async fn duplicate_email_in_any_case_is_409_even_when_concurrent() {
    let app = spawn_app().await;
    app.register("dup@example.com").await;

    let again = register_with(
        &app,
        json!({"email": "DUP@example.COM", "password": "correct-horse", "name": "B"}),
    )
    .await;
    let racers = concurrent_registrations(&app, "race@example.com").await;

    again.assert_error(409, "CONFLICT");
    let created = racers.iter().filter(|s| **s == 201).count();
    let conflicts = racers.iter().filter(|s| **s == 409).count();
    assert_eq!((created, conflicts), (1, racers.len() - 1), "{racers:?}");
}

/// Six registrations of one email, all in flight at once.
async fn concurrent_registrations(app: &TestApp, email: &str) -> Vec<u16> {
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

    let answer = app.login("LOGIN@example.com", "correct-horse").await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["data"]["user"]["email"], "login@example.com");
    assert!(answer.body["data"]["token"].is_string());
}

#[tokio::test]
async fn login_gives_the_same_401_for_unknown_email_and_wrong_password() {
    let app = spawn_app().await;
    app.register("known@example.com").await;

    let wrong_password = app.login("known@example.com", "not-the-password").await;
    let unknown = app.login("ghost@example.com", "whatever-pass").await;
    let missing = app
        .post_json("/api/users/login", &json!({"email": "known@example.com"}))
        .await;

    assert_eq!(wrong_password.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong_password.body["message"], unknown.body["message"]);
    assert_eq!(wrong_password.body["error"], unknown.body["error"]);
    missing.assert_missing_fields(&["password"]);
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
    anonymous.assert_error(401, "UNAUTHORIZED");
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
    assert_eq!(
        as_admin.each("email"),
        ["third@example.com", "plain@example.com"]
    );
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
    as_user.assert_error(403, "FORBIDDEN");
    assert_eq!(anonymous.status, 401);
    assert_eq!(bad_limit.status, 400);
}

#[tokio::test]
async fn admin_role_comes_from_admin_emails_not_from_the_client() {
    let app = spawn_app().await;

    let sneaky = register_with(&app, json!({"email": "sneaky@example.com", "password": "correct-horse", "name": "S", "role": "admin"}))
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
        .request(
            Method::GET,
            "/api/users",
            &[("x-user-id", "usr_1"), ("x-user-role", "admin")],
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
    let refreshed = app.post_as("/api/users/token/refresh", &admin.token).await;
    let login = app.login("admin@example.com", "correct-horse").await;
    let create = create_product_with(&app, token_in(&login)).await;

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
    let (app, shop) = spawn_shop(5).await;
    let admin = shop.admin.clone();
    let order = app.place_order(&shop.buyer, &shop.order_of_pens(1)).await;
    assert_eq!(order.status, 201, "{}", order.text);
    let app = app
        .restart_with(AppOptions::default().variable("admin_emails", "boss@example.com"))
        .await;

    // Act: the old token on what only admins may do: two admin routes (refused by the
    // gateway) and another user's order (which the order service shows only to admins).
    let create = create_product_with(&app, &admin.token).await;
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
        .request(Method::POST, "/api/users/token/refresh", &[])
        .await;
    let forged = app.post_as("/api/users/token/refresh", "a.b.c").await;

    assert_eq!(without.status, 401, "{}", without.text);
    assert_eq!(forged.status, 401, "{}", forged.text);
}

#[tokio::test]
async fn look_alike_and_invisible_characters_cannot_claim_an_address_or_hide_in_a_name() {
    let app = spawn_app().await;
    let app = &app;
    let register = |email: &str, name: &str| {
        register_with(
            app,
            json!({"email": email, "password": "correct-horse", "name": name}),
        )
    };

    // The Kelvin sign (U+212A) and fullwidth letters look like `k` and `a`.
    let kelvin = register("\u{212A}ate@example.com", "Kate").await;
    let fullwidth = register("ａdmin@example.com", "Admin").await;
    let zero_width = register("ad\u{200B}min@example.com", "Admin").await;
    let reversed_name = register("eve@example.com", "\u{202E}nimda").await;

    for answer in [&kelvin, &fullwidth, &zero_width] {
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert!(answer.details()["invalidFields"]["email"].is_string());
    }
    assert_eq!(reversed_name.status, 400, "{}", reversed_name.text);
    assert!(reversed_name.details()["invalidFields"]["name"].is_string());
}

/// A login for `email` with the operator's bootstrap token.
async fn login_with_bootstrap_token(app: &TestApp, email: &str, password: &str) -> Answer {
    let request = app
        .client
        .post(app.url("/api/users/login"))
        .header(
            "x-admin-bootstrap-token",
            storefront_tests::TEST_ADMIN_BOOTSTRAP_TOKEN,
        )
        .json(&json!({"email": email, "password": password}));
    app.send(request).await
}

#[tokio::test]
async fn a_stranger_cannot_become_admin_by_registering_a_listed_address_first() {
    // Arrange: the operator lists an address and holds the bootstrap token.
    let app = storefront_tests::spawn_app_with(
        AppOptions::default().variable("admin_emails", "admin@example.com,owner@shop.test"),
    )
    .await;
    let body = json!({"email": "OWNER@SHOP.TEST", "password": "correct-horse", "name": "Owner"});
    let register = |token: Option<&'static str>| {
        let mut request = app.client.post(app.url("/api/users/register")).json(&body);
        if let Some(token) = token {
            request = request.header("x-admin-bootstrap-token", token);
        }
        app.send(request)
    };

    // Act
    let without = register(None).await;
    let wrong = register(Some("guessed-bootstrap-token-0123456789abcdef")).await;
    let with = register(Some(storefront_tests::TEST_ADMIN_BOOTSTRAP_TOKEN)).await;
    let create = create_product_with(&app, token_in(&with)).await;

    // Assert: refused twice with nothing created, so the owner could still register.
    for refused in [&without, &wrong] {
        refused.assert_error(403, "FORBIDDEN");
    }
    assert_eq!(with.status, 201, "{}", with.text);
    assert_eq!(with.body["data"]["user"]["role"], "admin");
    assert_eq!(create.status, 201, "{}", create.text);
}

#[tokio::test]
async fn without_a_bootstrap_token_set_nobody_becomes_admin_through_the_api() {
    let app = storefront_tests::spawn_app_with(
        AppOptions::default().variable("admin_bootstrap_token", ""),
    )
    .await;

    let answer = app
        .send(
            app.client
                .post(app.url("/api/users/register"))
                .header("x-admin-bootstrap-token", storefront_tests::TEST_ADMIN_BOOTSTRAP_TOKEN)
                .json(&json!({"email": "admin@example.com", "password": "correct-horse", "name": "A"})),
        )
        .await;

    assert_eq!(answer.status, 403, "{}", answer.text);
}

#[tokio::test]
async fn an_existing_account_of_a_newly_listed_address_is_admin_only_after_a_login_with_the_token()
{
    // Arrange: an account made while its address was not listed; then the operator lists it.
    let app = spawn_app().await;
    app.register("later@example.com").await;
    let app = app
        .restart_with(AppOptions::default().variable("admin_emails", "later@example.com"))
        .await;

    // Act
    let plain = app.login("later@example.com", "correct-horse").await;
    let plain_create = create_product_with(&app, token_in(&plain)).await;
    let confirmed = login_with_bootstrap_token(&app, "later@example.com", "correct-horse").await;
    let again = app.login("later@example.com", "correct-horse").await;
    let confirmed_create = create_product_with(&app, token_in(&again)).await;

    // Assert
    assert_eq!(plain.body["data"]["user"]["role"], "user", "{}", plain.text);
    assert_eq!(plain_create.status, 403);
    assert_eq!(
        confirmed.body["data"]["user"]["role"], "admin",
        "{}",
        confirmed.text
    );
    assert_eq!(
        again.body["data"]["user"]["role"], "admin",
        "the login recorded it"
    );
    assert_eq!(confirmed_create.status, 201, "{}", confirmed_create.text);
}

#[tokio::test]
async fn after_five_failed_logins_an_account_answers_429_even_to_the_right_password() {
    // Arrange
    let app = spawn_app().await;
    app.register("target@example.com").await;
    app.register("bystander@example.com").await;

    // Act
    let mut failures = Vec::new();
    for _ in 0..5 {
        failures.push(
            app.login("target@example.com", "wrong-password")
                .await
                .status,
        );
    }
    let right_password = app.login("target@example.com", "correct-horse").await;
    let other_account = app.login("bystander@example.com", "correct-horse").await;

    // Assert
    assert_eq!(failures, [401; 5]);
    right_password.assert_error(429, "TOO_MANY_REQUESTS");
    let retry_after = right_password.retry_after();
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    assert_eq!(other_account.status, 200, "{}", other_account.text);
}

#[tokio::test]
async fn concurrent_guesses_cannot_all_slip_under_the_account_limit() {
    let app = spawn_app().await;
    app.register("target@example.com").await;

    let guesses = (0..15).map(|_| app.login("target@example.com", "wrong-password"));
    let answers = futures::future::join_all(guesses).await;

    let counts = storefront_tests::count_by_status(&answers);
    let checked = counts.get(&401).copied().unwrap_or(0);
    assert!(checked <= 5, "{checked} guesses were checked");
    assert_eq!(
        checked + counts.get(&429).copied().unwrap_or(0),
        15,
        "{counts:?}"
    );
}

#[tokio::test]
async fn after_twenty_failed_logins_from_one_address_every_login_from_it_answers_429() {
    // Arrange: guesses spread over unknown emails, never five on one.
    let app = spawn_app().await;
    app.register("real@example.com").await;

    // Act
    let mut statuses = Vec::new();
    for index in 0..20 {
        let email = format!("nobody-{index}@example.com");
        statuses.push(app.login(&email, "wrong-password").await.status);
    }
    let real = app.login("real@example.com", "correct-horse").await;
    let unknown = app.login("ghost@example.com", "whatever-pass").await;

    // Assert: the same answer for a real account and an unknown one.
    assert_eq!(statuses, [401; 20]);
    assert_eq!(real.status, 429, "{}", real.text);
    assert_eq!(unknown.status, 429, "{}", unknown.text);
    assert_eq!(real.body["error"], unknown.body["error"]);
}

#[tokio::test]
async fn logging_out_ends_every_token_issued_before_in_every_service() {
    // Arrange: two tokens of one user (two devices).
    let app = spawn_app().await;
    let user = app.register("leaving@example.com").await;
    let second = app.login("leaving@example.com", "correct-horse").await;
    let second = token_in(&second).to_string();

    // Act
    let logout = app.post_as("/api/users/logout", &user.token).await;
    let after = app.login("leaving@example.com", "correct-horse").await;
    let fresh = token_in(&after);

    // Assert: every earlier token is refused by every service; a new login works.
    assert_eq!(logout.status, 200, "{}", logout.text);
    for token in [&user.token, &second] {
        for path in ["/api/users/me", "/api/orders", "/api/notifications"] {
            let answer = app.get_as(path, token).await;
            assert_eq!(answer.status, 401, "{path}: {}", answer.text);
        }
        let refresh = app.post_as("/api/users/token/refresh", token).await;
        assert_eq!(refresh.status, 401, "{}", refresh.text);
    }
    assert_eq!(app.get_as("/api/users/me", fresh).await.status, 200);
    assert_eq!(app.get_as("/api/orders", fresh).await.status, 200);
}

#[tokio::test]
async fn a_session_older_than_session_max_hours_cannot_be_refreshed() {
    // Arrange: a token whose session began two hours ago, with sessions of one hour.
    let app =
        storefront_tests::spawn_app_with(AppOptions::default().variable("session_max_hours", "1"))
            .await;
    let user = app.register("old@example.com").await;
    let keys = auth::TokenKeys::from_secret(storefront_tests::TEST_JWT_SECRET).expect("keys");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let old = keys
        .issue_in_session(
            &user.id,
            "old@example.com",
            "Test User",
            auth::Role::User,
            auth::Session {
                generation: 0,
                started_at: now - 2 * 3600,
            },
        )
        .expect("token");

    // Act
    let stale = app.post_as("/api/users/token/refresh", &old).await;
    let current = app.post_as("/api/users/token/refresh", &user.token).await;

    // Assert: the fresh token keeps the session's start, so refreshing cannot stretch it.
    assert_eq!(stale.status, 401, "{}", stale.text);
    assert_eq!(current.status, 200, "{}", current.text);
    let refreshed = token_in(&current);
    let original = keys.verify(&user.token).expect("original");
    let renewed = keys.verify(refreshed).expect("refreshed");
    assert_eq!(renewed.session.started_at, original.session.started_at);
}

#[tokio::test]
async fn the_token_check_for_services_answers_only_calls_with_a_service_token() {
    let app =
        storefront_tests::spawn_app_with(AppOptions::default().exposing_private_endpoints()).await;
    let user = app.register("checked@example.com").await;
    let url = app.private_url(platform::Service::Users, "/auth/verify");

    let without = app
        .send(app.authed(app.client.post(&url), &user.token))
        .await;
    let with = app
        .send(app.authed(app.client.post(&url), &user.token).header(
            "x-service-token",
            storefront_tests::service_token("order-service", "user-service"),
        ))
        .await;

    assert_eq!(without.status, 401, "{}", without.text);
    assert_eq!(with.status, 200, "{}", with.text);
    assert_eq!(with.body["data"]["id"], user.id.as_str());
}

#[tokio::test]
async fn a_secret_that_is_a_placeholder_makes_the_service_answer_503_not_sign_with_it() {
    // Arrange: a deployment where the host does not know the value is secret (so nothing
    // checks it before the components do), set to an example file's placeholder.
    let app = storefront_tests::spawn_app_with(
        AppOptions::default()
            .with_manifest(|text| {
                storefront_tests::replace_once(
                    &text,
                    "jwt_secret = { required = true, secret = true }",
                    "jwt_secret = { required = true }",
                )
            })
            .variable("jwt_secret", "replace-with-openssl-rand-hex-32"),
    )
    .await;

    // Act
    let register = register_with(
        &app,
        json!({"email": "a@example.com", "password": "correct-horse", "name": "A"}),
    )
    .await;
    let me = app.get_as("/api/users/me", "a.b.c").await;

    // Assert: unavailable, and nothing about the secret in the answer.
    for answer in [&register, &me] {
        answer.assert_error(503, "SERVICE_UNAVAILABLE");
        assert!(!answer.text.contains("replace-with"));
        assert!(!answer.text.contains("jwt_secret"));
    }
}
