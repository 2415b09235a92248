//! The HTTP surface refuses what the stock GraphQL endpoint would let through: oversized bodies,
//! mutations over GET, non-JSON posts (CSRF "simple requests") and oversized or mutating batches;
//! production mode hides the schema from strangers.

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, ALLOW, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Body, StatusCode};
use serde_json::{Value, json};
use tests::{Backend, Role, UserOptions, spawn_app, spawn_app_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn post_raw(
    app: &tests::TestApp,
    content_type: &str,
    body: impl Into<Body>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = app
        .http()
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, content_type)
        .body(body);
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = request.send().await.expect("POST /graphql");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Streams `chunks` chunks of `size` spaces as a chunked POST over a raw socket and returns the
/// HTTP status the server answers with (it may answer before the body is complete).
async fn chunked_post_status(app: &tests::TestApp, chunks: usize, size: usize) -> u16 {
    let address = app
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.expect("write head");
    let chunk = format!("{size:x}\r\n{}\r\n", " ".repeat(size));
    for _ in 0..chunks {
        // The server may close the connection once it has refused the body.
        if socket.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = socket.write_all(b"0\r\n\r\n").await;
    let mut answer = vec![0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut answer))
        .await
        .expect("an answer within 10 s")
        .expect("read the status line");
    let line = String::from_utf8_lossy(&answer[..read]).to_string();
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {line:?}"))
}

fn code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413_without_being_read() {
    let app = spawn_app(Backend::Sqlite).await;
    let query = format!(
        "{{\"query\": \"{{ me {{ id }} }}\", \"variables\": {{\"pad\": \"{}\"}}}}",
        "x".repeat(2 << 20)
    );
    let started = Instant::now();
    let (status, body) = post_raw(&app, "application/json", query, None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(code(&body), Some("BAD_USER_INPUT"));
    assert!(started.elapsed() < Duration::from_secs(5));

    // A chunked body declares no length: it is cut off at the limit all the same.
    assert_eq!(chunked_post_status(&app, 64, 64 * 1024).await, 413);

    // Just under the limit is fine (and answered as GraphQL).
    let padded = format!(
        "{{\"query\": \"{{ me {{ id }} }}\"{}}}",
        " ".repeat((1 << 20) - 64)
    );
    let (status, body) = post_raw(&app, "application/json", padded, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(code(&body), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn a_mutation_over_get_is_405_while_a_query_over_get_runs() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = app
        .add_user("ada@example.com", Role::Admin, UserOptions::default())
        .await;
    let get = |query: &str| {
        app.http()
            .get(app.url("/graphql"))
            .query(&[("query", query)])
            .header(AUTHORIZATION, format!("Bearer {}", admin.token))
            .send()
    };
    let response = get("mutation { login(email: \"a@b.co\", password: \"x\") { accessToken } }")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers().get(ALLOW).unwrap(), "POST");

    let response = get("{ me { email } }").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["me"]["email"], "ada@example.com");
}

#[tokio::test]
async fn a_post_that_is_not_json_is_415_so_a_cross_site_form_cannot_run_a_mutation() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = app
        .add_user("ada@example.com", Role::Admin, UserOptions::default())
        .await;
    let mutation = json!({ "query": "mutation { createProduct(input: {sku: \"CSRF-1\", name: \"x\", unit: \"pcs\", listPrice: \"1\", currency: \"EUR\", leadTimeDays: 1}) { id } }" }).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let (status, body) =
            post_raw(&app, content_type, mutation.clone(), Some(&admin.token)).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}: {body}"
        );
    }
    let body = app
        .gql(
            "{ products(first: 10) { nodes { sku } } }",
            json!({}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(
        body["data"]["products"]["nodes"],
        json!([]),
        "nothing was created"
    );
    let (status, _) = post_raw(
        &app,
        "application/json; charset=utf-8",
        mutation,
        Some(&admin.token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn batches_hold_at_most_ten_queries_and_no_mutation() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = app
        .add_user("ada@example.com", Role::Admin, UserOptions::default())
        .await;
    let me = json!({ "query": "{ me { email } }" });
    let (status, body) = post_raw(
        &app,
        "application/json",
        Value::Array(vec![me.clone(); 10]).to_string(),
        Some(&admin.token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_array().map(Vec::len), Some(10));
    assert_eq!(body[9]["data"]["me"]["email"], "ada@example.com");

    let (status, body) = post_raw(
        &app,
        "application/json",
        Value::Array(vec![me.clone(); 11]).to_string(),
        Some(&admin.token),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), Some("BAD_USER_INPUT"));

    let create = json!({ "query": "mutation { createProduct(input: {sku: \"BATCH-1\", name: \"x\", unit: \"pcs\", listPrice: \"1\", currency: \"EUR\", leadTimeDays: 1}) { id } }" });
    let (status, body) = post_raw(
        &app,
        "application/json",
        json!([me, create]).to_string(),
        Some(&admin.token),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let body = app
        .gql(
            "{ products(first: 10) { nodes { sku } } }",
            json!({}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(
        body["data"]["products"]["nodes"],
        json!([]),
        "the batch ran nothing"
    );
}

#[tokio::test]
async fn production_mode_hides_graphiql_introspection_and_suggestions() {
    let app = spawn_app_with(Backend::Sqlite, &["--production"]).await;
    let admin = app
        .add_user("ada@example.com", Role::Admin, UserOptions::default())
        .await;

    let page = app
        .http()
        .get(app.url("/graphql"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);

    let body = app
        .gql(
            "{ __schema { types { name } } }",
            json!({}),
            Some(&admin.token),
        )
        .await;
    // async-graphql answers a disabled introspection with `__schema: null`: nothing is revealed.
    assert!(
        body["data"]["__schema"].is_null(),
        "introspection must be off: {body}"
    );
    assert!(!body.to_string().contains("Order"), "{body}");

    let body = app
        .gql("{ ordrs { nodes { id } } }", json!({}), Some(&admin.token))
        .await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(!message.contains("Did you mean"), "{message}");
    assert_eq!(code(&body), Some("BAD_USER_INPUT"));

    // The API itself works as usual.
    let body = app
        .gql("{ me { email } }", json!({}), Some(&admin.token))
        .await;
    assert_eq!(body["data"]["me"]["email"], "ada@example.com");
}

#[tokio::test]
async fn development_mode_suggests_and_introspects() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = app
        .add_user("ada@example.com", Role::Admin, UserOptions::default())
        .await;
    let body = app
        .gql("{ ordrs { nodes { id } } }", json!({}), Some(&admin.token))
        .await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Did you mean"), "{message}");
    let body = app
        .gql(
            "{ __schema { queryType { name } } }",
            json!({}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
}

/// GraphiQL's own introspection query nests type references 13 levels deep.
const GRAPHIQL_INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name } subscriptionType { name } types { ...FullType } directives { name description locations args { ...InputValue } } } }
fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason } inputFields { ...InputValue } interfaces { ...TypeRef } enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } }
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";

#[tokio::test]
async fn graphiql_loads_the_schema_documentation_but_deep_introspection_stays_bounded() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = app.gql(GRAPHIQL_INTROSPECTION, json!({}), None).await;
    assert!(body["errors"].is_null(), "{body}");
    let types = body["data"]["__schema"]["types"].as_array().expect("types");
    assert!(
        types
            .iter()
            .any(|t| t["name"] == "Order" && t["description"].is_string())
    );

    // __type > (fields > type > ofType) x 5 > name: 17 levels.
    let deep = format!(
        "{{ __type(name: \"Order\") {}{{ name }}{} }}",
        "{ fields { type { ofType ".repeat(5),
        " } } }".repeat(5)
    );
    let body = app.gql(&deep, json!({}), None).await;
    assert_eq!(code(&body), Some("QUERY_TOO_DEEP"), "{body}");
}
