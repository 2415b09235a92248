//! The service survives a PostgreSQL restart: requests meanwhile fail with a clear code, and it
//! recovers without restarting orderdesk.
//!
//! Restarting the cluster disturbs every other test using it, so this test runs only when
//! `ORDERDESK_TEST_RESTART_POSTGRES=1` (and `TEST_POSTGRES_URL`) are set; `.ci/run` runs it on its
//! own after the suite.

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use tests::{Backend, error_code, spawn_app};

use crate::fixtures::{Shop, move_order};

fn restart_cluster() {
    let versions = std::fs::read_dir("/etc/postgresql").expect("/etc/postgresql");
    let version = versions
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .next()
        .expect("a PostgreSQL cluster");
    let status = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .status()
        .expect("run pg_ctlcluster");
    assert!(status.success(), "pg_ctlcluster restart failed");
}

#[tokio::test]
async fn requests_recover_after_a_postgresql_restart_without_restarting_orderdesk() {
    if std::env::var("ORDERDESK_TEST_RESTART_POSTGRES").as_deref() != Ok("1")
        || !Backend::Postgres.is_available()
    {
        eprintln!(
            "skipped: set ORDERDESK_TEST_RESTART_POSTGRES=1 and TEST_POSTGRES_URL to restart PostgreSQL in a test"
        );
        return;
    }
    let app = spawn_app(Backend::Postgres).await;
    let shop = Shop::open(&app).await;
    let order = shop.confirmed_order(&app).await;

    restart_cluster();

    // Whatever failed meanwhile failed with a code; within 30 s everything works again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let body = app
            .gql("{ me { email } }", json!({}), shop.rep.token())
            .await;
        match error_code(&body) {
            None => break,
            Some(code) => assert_eq!(code, "INTERNAL", "{body}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still failing 30 s after the restart: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let moved = move_order(&app, &shop.rep.token, &order, "IN_PRODUCTION", None).await;
    assert_eq!(moved["status"], "IN_PRODUCTION");
    let ready = app.http().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}
