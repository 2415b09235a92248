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

/// `Max open files  <soft>  <hard>  files` from `/proc/<pid>/limits`.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("no open-file limit in\n{limits}"));
    let values: Vec<&str> = line["Max open files".len()..].split_whitespace().collect();
    (values[0].to_owned(), values[1].to_owned())
}

/// Every websocket subscriber holds a socket; a soft limit of 1024 would refuse clients long
/// before the machine runs out of anything else. The server is started from a shell that lowers
/// the soft limit first, so the test shows the raise whatever limits the test runner has.
/// (No database is involved: it runs once, on SQLite.)
#[tokio::test]
async fn the_server_raises_its_open_file_limit_to_the_hard_limit() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let dir = tempfile::tempdir().expect("a temporary folder");
    let database = format!("sqlite://{}", dir.path().join("limits.db").display());
    let mut child = tokio::process::Command::new("sh")
        .args(["-c", r#"ulimit -Sn 256 && exec "$@""#, "sh"])
        .arg(tests::app::orderdesk_bin())
        .args(["serve", "--bind", "127.0.0.1:0", "--database", &database])
        .env(
            "ORDERDESK_JWT_SECRET",
            "a-test-secret-that-is-long-enough-1234",
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server through sh");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let listening = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("orderdesk listening on") {
                return true;
            }
        }
        false
    })
    .await;
    if listening != Ok(true) {
        let _ = child.start_kill();
        let output = child.wait_with_output().await.expect("the server's output");
        panic!(
            "the server did not start:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let (soft, hard) = open_file_limits(child.id().expect("running"));
    assert_eq!(
        soft, hard,
        "started with a soft limit of 256, raised to the hard limit"
    );
    assert_ne!(soft, "256");
    child.kill().await.expect("stop the server");
}

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
