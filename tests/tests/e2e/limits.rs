//! Rate limits: sign-in lockout, sign-in rate per address, mutation rate per user and address,
//! all answered with LIMIT_EXCEEDED.

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde_json::{Value, json};
use tests::{Backend, Role, UserOptions, error_code, spawn_app_with};

const LOGIN: &str = "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken } }";

async fn login(app: &tests::TestApp, email: &str, password: &str) -> Value {
    app.gql(LOGIN, json!({ "email": email, "password": password }), None)
        .await
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_account_even_for_the_right_one() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            "--login-lockout-failures",
            "3",
            "--login-lockout-secs",
            "60",
        ],
    )
    .await;
    let options = UserOptions {
        password: Some("correct horse"),
        ..UserOptions::default()
    };
    app.add_user("ann@example.com", Role::Sales, options).await;
    app.add_user("bob@example.com", Role::Sales, options).await;

    for _ in 0..3 {
        assert_eq!(
            error_code(&login(&app, "ann@example.com", "guess").await).as_deref(),
            Some("UNAUTHENTICATED")
        );
    }
    let locked = login(&app, "ANN@example.com", "correct horse").await;
    assert_eq!(
        error_code(&locked).as_deref(),
        Some("LIMIT_EXCEEDED"),
        "{locked}"
    );
    assert!(locked["data"].is_null() || locked["data"]["login"].is_null());
    // Another account is not affected.
    let other = login(&app, "bob@example.com", "correct horse").await;
    assert!(other["data"]["login"]["accessToken"].is_string(), "{other}");
}

#[tokio::test]
async fn sign_ins_from_one_address_are_rate_limited() {
    let app = spawn_app_with(Backend::Sqlite, &["--logins-per-minute", "4"]).await;
    let options = UserOptions {
        password: Some("correct horse"),
        ..UserOptions::default()
    };
    app.add_user("ann@example.com", Role::Sales, options).await;
    for _ in 0..4 {
        let body = login(&app, "ann@example.com", "correct horse").await;
        assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
    }
    let body = login(&app, "ann@example.com", "correct horse").await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("LIMIT_EXCEEDED"),
        "{body}"
    );
}

#[tokio::test]
async fn mutations_beyond_the_rate_are_429_limit_exceeded_while_queries_go_on() {
    let app = spawn_app_with(Backend::Sqlite, &["--mutations-per-minute", "3"]).await;
    let admin = app
        .add_user("ada@example.com", Role::Admin, UserOptions::default())
        .await;
    let create = |n: u32| {
        let body = json!({ "query": format!("mutation {{ createProduct(input: {{sku: \"RATE-{n}\", name: \"x\", unit: \"pcs\", listPrice: \"1\", currency: \"EUR\", leadTimeDays: 1}}) {{ id }} }}") });
        app.http()
            .post(app.url("/graphql"))
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, format!("Bearer {}", admin.token))
            .body(body.to_string())
            .send()
    };
    for n in 0..3 {
        let response = create(n).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let refused = create(3).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().get(RETRY_AFTER).is_some());
    let body: Value = refused.json().await.unwrap();
    assert_eq!(error_code(&body).as_deref(), Some("LIMIT_EXCEEDED"));

    let body = app
        .gql(
            "{ products(first: 10) { nodes { sku } } }",
            json!({}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(
        body["data"]["products"]["nodes"].as_array().map(Vec::len),
        Some(3),
        "{body}"
    );
}
