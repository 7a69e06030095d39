//! `GET /health` through the gateway: every service checked over service chaining.

use storefront_tests::spawn_app;

#[tokio::test]
async fn health_reports_every_service_healthy() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let answer = app.get("/health").await;

    // Assert
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["success"], true);
    assert_eq!(answer.body["message"], "All services healthy");
    for service in ["user", "product", "order", "notification"] {
        let check = &answer.body["data"][service];
        assert_eq!(check["status"], "healthy", "{service}: {}", answer.text);
        assert!(check["responseTime"].is_number(), "{service}");
    }
    assert_eq!(answer.body["meta"]["service"], "api-gateway");
    assert!(answer.header("x-gateway").is_some());
}

#[tokio::test]
async fn health_is_503_with_details_when_a_service_is_down() {
    // Arrange: point the gateway at a notification service where nothing listens.
    let options = storefront_tests::AppOptions::default()
        .variable("notification_service_url", "http://127.0.0.1:9");
    let app = storefront_tests::spawn_app_with(options).await;

    // Act
    let answer = app.get("/health").await;

    // Assert
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(answer.body["message"], "Some services are unhealthy");
    assert_eq!(answer.body["error"]["code"], "SERVICE_UNAVAILABLE");
    let details = answer.details();
    assert_eq!(details["notification"]["status"], "unhealthy");
    assert!(details["notification"]["error"].is_string());
    assert_eq!(details["user"]["status"], "healthy", "{}", answer.text);
}
