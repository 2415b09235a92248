//! The plain HTTP surface: health and readiness probes for the load balancer, and GraphiQL
//! for people with a browser.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tests::{Backend, spawn_app};

backend_tests!(
    health_and_readiness_probes_answer_200,
    a_browser_opening_graphql_gets_graphiql,
    sigterm_stops_the_server_cleanly_and_promptly,
);

async fn sigterm_stops_the_server_cleanly_and_promptly(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let health = app
        .http()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(health.status(), StatusCode::OK);

    // Idle keep-alive connections must not hold shutdown open for the whole grace period.
    let status = app
        .terminate(std::time::Duration::from_secs(8))
        .await
        .expect("the server exits within 8 s of SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(
        app.http().get(app.url("/healthz")).send().await.is_err(),
        "nothing answers after shutdown"
    );
}

async fn health_and_readiness_probes_answer_200(backend: Backend) {
    let app = spawn_app(backend).await;

    let health = app
        .http()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.expect("body").trim(), "ok");

    let ready = app
        .http()
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("GET /readyz");
    assert_eq!(ready.status(), StatusCode::OK, "the database is reachable");
}

async fn a_browser_opening_graphql_gets_graphiql(backend: Backend) {
    let app = spawn_app(backend).await;

    let page = app
        .http()
        .get(app.url("/graphql"))
        .header(ACCEPT, "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
        .send()
        .await
        .expect("GET /graphql");
    assert_eq!(page.status(), StatusCode::OK);
    let content_type = page
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/html"),
        "content-type: {content_type}"
    );
    let html = page.text().await.expect("body");
    assert!(
        html.to_lowercase().contains("graphiql"),
        "not GraphiQL:\n{html}"
    );
}
