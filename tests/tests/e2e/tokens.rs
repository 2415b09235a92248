//! Token validation is explicit: a table of forgeries is refused before any resolver runs, keys
//! are chosen by `kid` with the algorithm fixed by the key, and new keys are picked up on SIGHUP.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use tests::{Backend, Role, TestApp, UserOptions, spawn_app_with};

const AUDIENCE: &str = "orderdesk-api";

/// Writes an RSA and an Ed25519 key pair with openssl: private keys to sign with, public keys
/// (`idp.rs256.pem`, `edge.eddsa.pem`) for the server's key folder.
fn key_pairs(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .status()
            .expect("run openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "rsa.key",
    ]);
    run(&[
        "pkey",
        "-in",
        "rsa.key",
        "-pubout",
        "-out",
        "keys/idp.rs256.pem",
    ]);
    run(&["genpkey", "-algorithm", "ed25519", "-out", "ed.key"]);
    run(&[
        "pkey",
        "-in",
        "ed.key",
        "-pubout",
        "-out",
        "keys/edge.eddsa.pem",
    ]);
    (
        std::fs::read(dir.join("rsa.key")).unwrap(),
        std::fs::read(dir.join("ed.key")).unwrap(),
    )
}

fn claims(sub: &str, shift: impl FnOnce(&mut Value)) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({ "sub": sub, "role": "ADMIN", "iss": "orderdesk", "aud": AUDIENCE, "iat": now, "exp": now + 600 });
    shift(&mut claims);
    claims
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).expect("sign")
}

/// A token with a hand-written header and no valid signature.
fn unsigned(header: &Value, claims: &Value, signature: &str) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{signature}", part(header), part(claims))
}

/// Creates an admin and signs in through the API, so the token carries the server's audience.
async fn signed_in_admin(app: &TestApp) -> (String, String) {
    let options = UserOptions {
        password: Some("correct horse"),
        ..UserOptions::default()
    };
    let admin = app.add_user("ada@example.com", Role::Admin, options).await;
    let body = app
        .gql("mutation { login(email: \"ada@example.com\", password: \"correct horse\") { accessToken } }", json!({}), None)
        .await;
    let token = body["data"]["login"]["accessToken"]
        .as_str()
        .expect("signed in")
        .to_owned();
    (admin.id, token)
}

/// Runs a mutation with `token`: the HTTP status and the error code.
async fn attempt(app: &TestApp, token: &str, sku: &str) -> (StatusCode, Option<String>) {
    let body = json!({ "query": format!("mutation {{ createProduct(input: {{sku: \"{sku}\", name: \"x\", unit: \"pcs\", listPrice: \"1\", currency: \"EUR\", leadTimeDays: 1}}) {{ id }} }}") });
    let response = app
        .http()
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(body.to_string())
        .send()
        .await
        .expect("POST");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON body");
    (
        status,
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .map(str::to_owned),
    )
}

#[tokio::test]
async fn every_forged_token_is_unauthenticated_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (rsa_private, ed_private) = key_pairs(dir.path());
    let keys_dir = dir.path().join("keys");
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            "--jwt-keys-dir",
            keys_dir.to_str().unwrap(),
            "--jwt-audience",
            AUDIENCE,
        ],
    )
    .await;
    let (admin_id, admin_token) = signed_in_admin(&app).await;
    let sub = admin_id.as_str();
    let secret = EncodingKey::from_secret(app.jwt_secret().as_bytes());
    let rsa = EncodingKey::from_rsa_pem(&rsa_private).expect("RSA key");
    let ed = EncodingKey::from_ed_pem(&ed_private).expect("Ed25519 key");
    let rsa_public = std::fs::read(keys_dir.join("idp.rs256.pem")).unwrap();

    // Tokens that must work: ours, an identity provider's RS256, an edge service's EdDSA, and
    // one just expired but within the 30 s leeway.
    let accepted = [
        ("issued by orderdesk", admin_token.clone()),
        (
            "RS256 by kid",
            sign(Algorithm::RS256, Some("idp"), &claims(sub, |_| {}), &rsa),
        ),
        (
            "EdDSA by kid",
            sign(Algorithm::EdDSA, Some("edge"), &claims(sub, |_| {}), &ed),
        ),
        (
            "within leeway",
            sign(
                Algorithm::HS256,
                Some("primary"),
                &claims(sub, |c| {
                    c["exp"] = json!(chrono::Utc::now().timestamp() - 10)
                }),
                &secret,
            ),
        ),
    ];
    for (n, (what, token)) in accepted.iter().enumerate() {
        let (status, code) = attempt(&app, token, &format!("OK-{n}")).await;
        assert_eq!(
            (status, code.as_deref()),
            (StatusCode::OK, None),
            "{what} must be accepted"
        );
    }

    let now = chrono::Utc::now().timestamp();
    let good = claims(sub, |_| {});
    let valid = sign(Algorithm::HS256, Some("primary"), &good, &secret);
    let stripped = format!("{}.", valid.rsplit_once('.').unwrap().0);
    let forged: Vec<(&str, String)> = vec![
        (
            "alg none",
            unsigned(&json!({"alg": "none", "typ": "JWT"}), &good, ""),
        ),
        (
            "alg None",
            unsigned(
                &json!({"alg": "None", "typ": "JWT", "kid": "primary"}),
                &good,
                "",
            ),
        ),
        (
            "HS256 signed with the RS public key",
            sign(
                Algorithm::HS256,
                Some("idp"),
                &good,
                &EncodingKey::from_secret(&rsa_public),
            ),
        ),
        (
            "RS256 under the HS256 kid",
            sign(Algorithm::RS256, Some("primary"), &good, &rsa),
        ),
        (
            "wrong issuer",
            sign(
                Algorithm::HS256,
                Some("primary"),
                &claims(sub, |c| c["iss"] = json!("evil")),
                &secret,
            ),
        ),
        (
            "missing issuer",
            sign(
                Algorithm::HS256,
                Some("primary"),
                &claims(sub, |c| {
                    c.as_object_mut().unwrap().remove("iss");
                }),
                &secret,
            ),
        ),
        (
            "wrong audience",
            sign(
                Algorithm::HS256,
                Some("primary"),
                &claims(sub, |c| c["aud"] = json!("someone-else")),
                &secret,
            ),
        ),
        (
            "missing audience",
            sign(
                Algorithm::HS256,
                Some("primary"),
                &claims(sub, |c| {
                    c.as_object_mut().unwrap().remove("aud");
                }),
                &secret,
            ),
        ),
        (
            "expired past leeway",
            sign(
                Algorithm::HS256,
                Some("primary"),
                &claims(sub, |c| c["exp"] = json!(now - 120)),
                &secret,
            ),
        ),
        (
            "nbf in the future",
            sign(
                Algorithm::HS256,
                Some("primary"),
                &claims(sub, |c| c["nbf"] = json!(now + 600)),
                &secret,
            ),
        ),
        (
            "exp as a string",
            sign(
                Algorithm::HS256,
                Some("primary"),
                &claims(sub, |c| c["exp"] = json!((now + 600).to_string())),
                &secret,
            ),
        ),
        (
            "missing iat",
            sign(
                Algorithm::HS256,
                Some("primary"),
                &claims(sub, |c| {
                    c.as_object_mut().unwrap().remove("iat");
                }),
                &secret,
            ),
        ),
        (
            "unknown kid",
            sign(Algorithm::HS256, Some("nobody"), &good, &secret),
        ),
        (
            "kid with ../",
            sign(Algorithm::HS256, Some("../keys/primary"), &good, &secret),
        ),
        (
            "signed with another secret",
            sign(
                Algorithm::HS256,
                Some("primary"),
                &good,
                &EncodingKey::from_secret(b"not-the-servers-secret-at-all"),
            ),
        ),
        ("stripped signature", stripped),
        ("garbage with dots", "abc.def.ghi".to_owned()),
        ("garbage", "not-a-token".to_owned()),
    ];
    for (n, (what, token)) in forged.iter().enumerate() {
        let (status, code) = attempt(&app, token, &format!("FORGED-{n}")).await;
        assert_eq!(
            (status, code.as_deref()),
            (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED")),
            "{what} must be refused"
        );
    }
    let body = app
        .gql(
            "{ products(first: 100) { nodes { sku } } }",
            json!({}),
            Some(&admin_token),
        )
        .await;
    let skus: Vec<&str> = body["data"]["products"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["sku"].as_str())
        .collect();
    assert!(
        skus.iter().all(|sku| sku.starts_with("OK-")),
        "a forged token created something: {skus:?}"
    );
    assert_eq!(skus.len(), accepted.len());
}

#[tokio::test]
async fn a_key_added_to_the_folder_is_used_after_sighup_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (_, ed_private) = key_pairs(dir.path());
    let keys_dir = dir.path().join("keys");
    let late = dir.path().join("keys").join("edge.eddsa.pem");
    let parked = dir.path().join("edge.eddsa.pem.parked");
    std::fs::rename(&late, &parked).unwrap();
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            "--jwt-keys-dir",
            keys_dir.to_str().unwrap(),
            "--jwt-audience",
            AUDIENCE,
        ],
    )
    .await;
    let (admin_id, admin_token) = signed_in_admin(&app).await;
    let token = sign(
        Algorithm::EdDSA,
        Some("edge"),
        &claims(admin_id.as_str(), |_| {}),
        &EncodingKey::from_ed_pem(&ed_private).unwrap(),
    );

    assert_eq!(
        attempt(&app, &token, "BEFORE").await.0,
        StatusCode::UNAUTHORIZED,
        "the key is not known yet"
    );
    std::fs::rename(&parked, &late).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &app.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = attempt(&app, &token, &format!("AFTER-{}", rand_suffix())).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new key was not picked up after SIGHUP"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The server kept running and still accepts its own tokens.
    assert_eq!(attempt(&app, &admin_token, "OWN").await.0, StatusCode::OK);
}

fn rand_suffix() -> u32 {
    rand::random()
}
