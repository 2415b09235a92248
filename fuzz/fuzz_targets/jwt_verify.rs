//! JWT verification, as every request (`Authorization: Bearer ...`) and every websocket
//! `connection_init` runs it.
//!
//! Properties: `JwtKeys::verify` and `JwtKeys::from_bearer` never panic; a token is accepted only
//! when it is HS256-signed with our key (kid `primary` or none), carries `iss`, `sub`, `iat` and an
//! `exp` not past the leeway, no `nbf` in the future, and the actor it yields is exactly what the
//! claims say.
//! Inputs are either raw text or tokens assembled from fuzzed headers, claims and signatures
//! (right key, wrong key, other HMAC algorithms, garbage, none), so the fuzzer gets past the
//! signature check and exercises the claim validation behind it.
#![no_main]

use api::http::auth::{Auth, JwtKeys};
use arbitrary::Arbitrary;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::user::Role;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

const SECRET: &[u8] = b"orderdesk-fuzzing-secret-0123456789";
const OTHER_SECRET: &[u8] = b"somebody-elses-secret";
/// `JwtKeys::from_secret`'s leeway, in seconds.
const LEEWAY: i64 = 30;

// Variants are ordered so that the first one (what `arbitrary` picks when the input runs out)
// is what our own tokens carry: short inputs are valid tokens, and the fuzzer mutates away from
// them one part at a time. Without that bias it never assembles a token that passes.
#[derive(Arbitrary, Debug)]
enum Input {
    /// A three-part token assembled from fuzzed parts.
    Token {
        header: HeaderPart,
        claims: ClaimsPart,
        signature: Signature,
    },
    /// Any text, as an attacker may send it.
    Raw(String),
    /// A `Bearer` header value, verbatim.
    Header(String),
}

#[derive(Arbitrary, Debug)]
enum HeaderPart {
    /// `{"alg":"HS256","typ":"JWT","kid":"primary"}`, as we issue.
    Ours,
    /// `{"alg": ..., "typ": ..., "kid": ...}` with fuzzed values.
    Fields { alg: Field, typ: Field, kid: Field },
    /// Arbitrary header text.
    Text(String),
}

/// One claim: as our tokens carry it, missing, or something else.
#[derive(Arbitrary, Debug)]
enum Claim {
    Ours,
    Absent,
    Other(Field),
}

#[derive(Arbitrary, Debug)]
struct ClaimsPart {
    sub: Claim,
    role: Claim,
    cust: Claim,
    iss: Claim,
    iat: Claim,
    exp: Claim,
    nbf: Claim,
    aud: Claim,
    extra: Vec<(String, Field)>,
}

impl ClaimsPart {
    /// The claims as a JSON object; `extra` comes last, so it may override a claim.
    fn to_json(&self, now: i64) -> Value {
        let ours = |name: &str| match name {
            "sub" => Some(json!("7")),
            "role" => Some(json!("CUSTOMER")),
            "cust" => Some(json!(3)),
            "iss" => Some(json!("orderdesk")),
            "iat" => Some(json!(now)),
            "exp" => Some(json!(now + 900)),
            _ => None, // `nbf` and `aud`: our tokens have none
        };
        let mut map = Map::new();
        let claims = [
            ("sub", &self.sub),
            ("role", &self.role),
            ("cust", &self.cust),
            ("iss", &self.iss),
            ("iat", &self.iat),
            ("exp", &self.exp),
            ("nbf", &self.nbf),
            ("aud", &self.aud),
        ];
        for (name, claim) in claims {
            let value = match claim {
                Claim::Ours => ours(name),
                Claim::Absent => None,
                Claim::Other(field) => field.to_json(now),
            };
            if let Some(value) = value {
                map.insert(name.to_owned(), value);
            }
        }
        for (name, field) in &self.extra {
            if let Some(value) = field.to_json(now) {
                map.insert(name.clone(), value);
            }
        }
        Value::Object(map)
    }
}

/// A JSON value, biased towards the ones that pass validation.
#[derive(Arbitrary, Debug)]
enum Field {
    Absent,
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// Now plus this many seconds, as a number.
    Now(i32),
    /// Now plus this many seconds, as a string.
    NowAsText(i32),
    /// One of the algorithm names.
    Alg(u8),
    /// One of the role names, in some case.
    Role(u8, bool),
    /// Our issuer.
    Issuer,
    /// Our key id.
    Kid,
    /// A number as a string (a subject).
    Id(i64),
    List(Vec<String>),
}

#[derive(Arbitrary, Debug)]
enum Signature {
    /// HMAC with our secret, with the algorithm chosen here (0: HS256).
    OurKey(u8),
    /// HMAC with another secret.
    OtherKey(u8),
    /// `header.claims` (two parts).
    Missing,
    /// `header.claims.`
    Empty,
    Garbage(String),
}

const ALGORITHMS: [&str; 8] = [
    "HS256", "HS384", "HS512", "none", "None", "RS256", "EdDSA", "hs256",
];
const HMAC: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

impl Field {
    fn to_json(&self, now: i64) -> Option<Value> {
        Some(match self {
            Field::Absent => return None,
            Field::Null => Value::Null,
            Field::Bool(b) => json!(b),
            Field::Int(i) => json!(i),
            Field::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Field::Text(s) => json!(s),
            Field::Now(offset) => json!(now + i64::from(*offset)),
            Field::NowAsText(offset) => json!((now + i64::from(*offset)).to_string()),
            Field::Alg(i) => json!(ALGORITHMS[usize::from(*i) % ALGORITHMS.len()]),
            Field::Role(i, lower) => {
                let role = ["ADMIN", "MANAGER", "SALES", "CUSTOMER", "ROOT"][usize::from(*i) % 5];
                json!(if *lower {
                    role.to_lowercase()
                } else {
                    role.to_owned()
                })
            }
            Field::Issuer => json!("orderdesk"),
            Field::Kid => json!("primary"),
            Field::Id(id) => json!(id.to_string()),
            Field::List(items) => json!(items),
        })
    }
}

fn object(fields: impl IntoIterator<Item = (&'static str, Option<Value>)>) -> Value {
    let map: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect();
    Value::Object(map)
}

fn now() -> i64 {
    i64::try_from(jsonwebtoken::get_current_timestamp()).expect("the clock fits an i64")
}

/// What an accepted token must look like.
struct Built {
    token: String,
    signed_with_our_key_as: Option<Algorithm>,
    header: Option<Value>,
    claims: Option<Value>,
}

fn build(header: &HeaderPart, claims: &ClaimsPart, signature: &Signature, now: i64) -> Built {
    let header_text = match header {
        HeaderPart::Ours => r#"{"typ":"JWT","alg":"HS256","kid":"primary"}"#.to_owned(),
        HeaderPart::Text(text) => text.clone(),
        HeaderPart::Fields { alg, typ, kid } => object([
            ("alg", alg.to_json(now)),
            ("typ", typ.to_json(now)),
            ("kid", kid.to_json(now)),
        ])
        .to_string(),
    };
    let claims_text = claims.to_json(now).to_string();
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&header_text),
        URL_SAFE_NO_PAD.encode(&claims_text)
    );
    let hmac = |secret: &[u8], i: u8| {
        let algorithm = HMAC[usize::from(i) % HMAC.len()];
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(secret),
            algorithm,
        )
        .expect("HMAC signing cannot fail");
        (algorithm, signature)
    };
    let (token, signed_with_our_key_as) = match signature {
        Signature::Missing => (message.clone(), None),
        Signature::Empty => (format!("{message}."), None),
        Signature::Garbage(text) => (format!("{message}.{text}"), None),
        Signature::OurKey(i) => {
            let (algorithm, signature) = hmac(SECRET, *i);
            (format!("{message}.{signature}"), Some(algorithm))
        }
        Signature::OtherKey(i) => (format!("{message}.{}", hmac(OTHER_SECRET, *i).1), None),
    };
    Built {
        token,
        signed_with_our_key_as,
        header: serde_json::from_str(&header_text).ok(),
        claims: serde_json::from_str(&claims_text).ok(),
    }
}

/// Panics unless an accepted token deserved it.
fn assert_deserved(built: &Built, actor: &domain::user::Actor, before: i64, after: i64) {
    let context = || format!("accepted {:?} as {actor:?}", built.token);
    assert_eq!(
        built.signed_with_our_key_as,
        Some(Algorithm::HS256),
        "{}",
        context()
    );
    let header = built
        .header
        .as_ref()
        .unwrap_or_else(|| panic!("header is not JSON: {}", context()));
    assert_eq!(header["alg"], "HS256", "{}", context());
    // One key is configured, `primary`; a token without a kid means it.
    assert!(
        header
            .get("kid")
            .filter(|kid| !kid.is_null())
            .is_none_or(|kid| kid == "primary"),
        "unknown kid: {}",
        context()
    );
    let claims = built
        .claims
        .as_ref()
        .unwrap_or_else(|| panic!("claims are not JSON: {}", context()));
    assert_eq!(claims["iss"], "orderdesk", "{}", context());
    let exp = claims["exp"]
        .as_i64()
        .unwrap_or_else(|| panic!("exp not an integer: {}", context()));
    assert!(exp >= before - LEEWAY, "expired: {}", context());
    assert!(claims["iat"].is_i64(), "iat not an integer: {}", context());
    // A NumericDate may have a fraction (RFC 7519 section 2): `nbf` is any number, and only ours
    // is checked, so it may be a float (jsonwebtoken truncates it).
    if let Some(nbf) = claims.get("nbf").filter(|v| !v.is_null()) {
        let nbf = nbf
            .as_f64()
            .unwrap_or_else(|| panic!("nbf not a number: {}", context()));
        #[allow(clippy::cast_precision_loss)]
        let latest = (after + LEEWAY + 1) as f64;
        assert!(nbf <= latest, "not yet valid: {}", context());
    }
    let sub = claims["sub"]
        .as_str()
        .unwrap_or_else(|| panic!("sub not a string: {}", context()));
    assert_eq!(
        sub.parse::<i64>().ok(),
        Some(actor.user_id.0),
        "{}",
        context()
    );
    let role = claims["role"]
        .as_str()
        .unwrap_or_else(|| panic!("role not a string: {}", context()));
    assert_eq!(Role::parse(role).ok(), Some(actor.role), "{}", context());
    assert_eq!(
        claims.get("cust").and_then(Value::as_i64),
        actor.customer_id.map(|c| c.0),
        "{}",
        context()
    );
}

fn near_time_edge(claims: Option<&Value>, before: i64, after: i64) -> bool {
    let Some(claims) = claims else { return false };
    let near = |name: &str, edge_before: i64, edge_after: i64| {
        #[allow(clippy::cast_precision_loss)]
        let edges = (edge_before - 2) as f64..=(edge_after + 2) as f64;
        claims[name].as_f64().is_some_and(|t| edges.contains(&t))
    };
    near("exp", before - LEEWAY, after - LEEWAY) || near("nbf", before + LEEWAY, after + LEEWAY)
}

fuzz_target!(|input: Input| {
    let keys = JwtKeys::from_secret(SECRET);
    match input {
        Input::Raw(text) => {
            // No forgery is findable by chance: anything accepted here is a verification bug.
            assert!(
                !matches!(keys.verify(&text), Auth::User(_)),
                "accepted raw {text:?}"
            );
            let _ = keys.from_bearer(Some(&text));
        }
        Input::Header(value) => {
            assert!(
                !matches!(keys.from_bearer(Some(&value)), Auth::User(_)),
                "accepted header {value:?}"
            );
        }
        Input::Token {
            header,
            claims,
            signature,
        } => {
            let before = now();
            let built = build(&header, &claims, &signature, before);
            let verdict = keys.verify(&built.token);
            let bearer = keys.from_bearer(Some(&format!("Bearer {}", built.token)));
            let after = now();
            // The two calls read the clock a moment apart: a token at the edge of its validity
            // may fairly get different answers.
            if !near_time_edge(built.claims.as_ref(), before, after) {
                assert_eq!(
                    matches!(verdict, Auth::User(_)),
                    matches!(bearer, Auth::User(_)),
                    "verify and from_bearer disagree on {:?}",
                    built.token
                );
            }
            if let Auth::User(actor) = &verdict {
                // `FUZZ_SHOW_ACCEPTED=1 .../jwt_verify -runs=0 corpus/jwt_verify` lists what the
                // corpus gets accepted: evidence that the fuzzer gets past the signature check.
                if std::env::var_os("FUZZ_SHOW_ACCEPTED").is_some() {
                    eprintln!("accepted {actor:?}: {}", built.token);
                }
                assert_deserved(&built, actor, before, after);
            }
        }
    }
});
