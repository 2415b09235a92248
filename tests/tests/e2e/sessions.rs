//! Sessions: access tokens are short-lived; refresh tokens rotate on every use, a replayed one
//! ends the session, and signing out revokes it.

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use serde_json::{Value, json};
use tests::{Backend, Role, UserOptions, assert_error, error_code, spawn_app, spawn_app_with};

backend_tests!(
    a_refresh_token_buys_a_new_pair_once_and_a_later_replay_ends_the_session,
    a_refresh_retried_after_a_lost_answer_gets_a_working_pair_and_voids_the_lost_one,
    signing_out_revokes_the_session,
    concurrent_refreshes_from_one_flaky_client_keep_the_session_alive,
);

const LOGIN: &str = "mutation { login(email: \"ann@example.com\", password: \"correct horse\") { accessToken expiresAt refreshToken refreshExpiresAt } }";
const REFRESH: &str = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken expiresAt refreshToken user { email } } }";

async fn signed_in(app: &tests::TestApp) -> Value {
    app.add_user(
        "ann@example.com",
        Role::Sales,
        UserOptions {
            password: Some("correct horse"),
            ..UserOptions::default()
        },
    )
    .await;
    let body = app.gql(LOGIN, json!({}), None).await;
    assert!(error_code(&body).is_none(), "{body}");
    body["data"]["login"].clone()
}

fn at(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .expect("a timestamp")
        .parse()
        .expect("RFC 3339")
}

async fn a_refresh_token_buys_a_new_pair_once_and_a_later_replay_ends_the_session(
    backend: Backend,
) {
    // No grace period: any second use is a replay.
    let app = spawn_app_with(backend, &["--refresh-reuse-grace-secs", "0"]).await;
    let session = signed_in(&app).await;
    let access_life = at(&session["expiresAt"]) - Utc::now();
    assert!(
        access_life <= chrono::Duration::minutes(15) && access_life > chrono::Duration::minutes(14),
        "{access_life}"
    );
    assert!(at(&session["refreshExpiresAt"]) - Utc::now() > chrono::Duration::days(29));

    let first = session["refreshToken"].as_str().unwrap();
    let renewed = app.gql(REFRESH, json!({ "t": first }), None).await;
    let renewed = &renewed["data"]["refreshToken"];
    assert_eq!(renewed["user"]["email"], "ann@example.com");
    let second = renewed["refreshToken"].as_str().unwrap();
    assert_ne!(second, first);
    let me = app
        .gql(
            "{ me { email } }",
            json!({}),
            renewed["accessToken"].as_str(),
        )
        .await;
    assert_eq!(me["data"]["me"]["email"], "ann@example.com");

    // Someone replays the spent token: refused, and the whole session with it.
    let replay = app.gql(REFRESH, json!({ "t": first }), None).await;
    assert_error(&replay, "UNAUTHENTICATED");
    let after = app.gql(REFRESH, json!({ "t": second }), None).await;
    assert_error(&after, "UNAUTHENTICATED");

    let garbage = app.gql(REFRESH, json!({ "t": "not-a-token" }), None).await;
    assert_error(&garbage, "UNAUTHENTICATED");
}

async fn signing_out_revokes_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = signed_in(&app).await;
    let token = session["refreshToken"].as_str().unwrap();
    let out = app
        .gql(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": token }),
            None,
        )
        .await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    assert_error(
        &app.gql(REFRESH, json!({ "t": token }), None).await,
        "UNAUTHENTICATED",
    );
    // A second sign-in is a new session.
    let again = app.gql(LOGIN, json!({}), None).await;
    let fresh = again["data"]["login"]["refreshToken"].as_str().unwrap();
    assert!(error_code(&app.gql(REFRESH, json!({ "t": fresh }), None).await).is_none());
}

async fn a_refresh_retried_after_a_lost_answer_gets_a_working_pair_and_voids_the_lost_one(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let session = signed_in(&app).await;
    let first = session["refreshToken"].as_str().unwrap();
    // The answer to this refresh never reaches the phone...
    let lost = app.gql(REFRESH, json!({ "t": first }), None).await;
    let lost = lost["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    // ...so it retries with the same token, within the grace period.
    let retried = app.gql(REFRESH, json!({ "t": first }), None).await;
    assert!(error_code(&retried).is_none(), "{retried}");
    let kept = retried["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let next = app.gql(REFRESH, json!({ "t": kept }), None).await;
    assert!(
        error_code(&next).is_none(),
        "the retried pair works: {next}"
    );
    // The pair that was lost is void; presenting it is refused and leaves the session alone.
    assert_error(
        &app.gql(REFRESH, json!({ "t": lost }), None).await,
        "UNAUTHENTICATED",
    );
    let still = next["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap();
    assert!(error_code(&app.gql(REFRESH, json!({ "t": still }), None).await).is_none());
}

async fn concurrent_refreshes_from_one_flaky_client_keep_the_session_alive(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = signed_in(&app).await;
    let token = session["refreshToken"].as_str().unwrap().to_owned();
    let answers: Vec<Value> =
        join_all((0..8).map(|_| app.gql(REFRESH, json!({ "t": token }), None))).await;
    for answer in &answers {
        assert!(error_code(answer).is_none(), "{answer}");
    }
    // Superseded pairs are refused without ending the session; one of them still works.
    let mut working = 0;
    for answer in &answers {
        let next = answer["data"]["refreshToken"]["refreshToken"]
            .as_str()
            .unwrap();
        if error_code(&app.gql(REFRESH, json!({ "t": next }), None).await).is_none() {
            working += 1;
            break;
        }
    }
    assert_eq!(working, 1, "one of the pairs handed out still works");
}
