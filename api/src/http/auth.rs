//! JWT access tokens: issuing (login, `orderdesk token`) and verifying (every request and every
//! websocket `connection_init`).
//!
//! Verification is explicit: the key is chosen by the token's `kid` (unknown or malformed kids
//! are refused), and the token's `alg` must be the algorithm of that key, so a token cannot pick
//! its own algorithm (`none`, or HS256 "signed" with an RSA public key). `exp`, `iat`, `sub` and
//! `iss` are required, `aud` is checked when configured, `nbf` is honoured, with a leeway.
//!
//! Keys: the HS256 secret that signs our tokens (kid `primary` unless configured), plus
//! verification keys from a folder: `<kid>.hs256` (a shared secret), `<kid>.rs256.pem` (an RSA
//! public key), `<kid>.eddsa.pem` (an Ed25519 public key). The folder is re-read on SIGHUP.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use chrono::{DateTime, Duration, Utc};
use domain::user::{Actor, Role, User};
use domain::{CustomerId, UserId};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde::{Deserialize, Serialize};

/// What the caller presented.
#[derive(Clone, Debug)]
pub enum Auth {
    /// No credentials.
    Anonymous,
    /// Credentials that did not verify; the reason is for the error message.
    Invalid(String),
    /// A verified user.
    User(Actor),
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cust: Option<i64>,
    iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    iat: i64,
    exp: i64,
}

/// How tokens are signed and checked.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    /// The HS256 secret our tokens are signed with.
    pub secret: Vec<u8>,
    /// The `kid` written into our tokens.
    pub kid: String,
    /// Extra verification keys, re-read on SIGHUP.
    pub keys_dir: Option<PathBuf>,
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`, when set (also written into our tokens).
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl JwtConfig {
    /// Defaults around a secret: kid `primary`, issuer `orderdesk`, no audience, 30 s leeway.
    pub fn with_secret(secret: &[u8]) -> Self {
        Self {
            secret: secret.to_vec(),
            kid: "primary".to_owned(),
            keys_dir: None,
            issuer: "orderdesk".to_owned(),
            audience: None,
            leeway_secs: 30,
        }
    }
}

/// One key that may verify tokens.
#[derive(Clone)]
struct VerificationKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Signing key and verification keys.
pub struct JwtKeys {
    config: JwtConfig,
    encoding: EncodingKey,
    keys: RwLock<Arc<HashMap<String, VerificationKey>>>,
    verified: Mutex<Verified>,
}

/// Most tokens remembered as verified. Each is a few hundred bytes; a server sees one token per
/// signed-in client, so a full map (emptied then, not swept) means an unusual crowd.
const VERIFIED_TOKENS: usize = 4096;

/// Tokens that verified, by their exact text, with whom they speak for and their `exp`.
///
/// A client sends the same token with every request for the token's whole life, and checking it
/// again (the signature, base64, the header's and the claims' JSON twice, the validation's sets)
/// was about 5 % of the server's CPU for one `order(id)`. For the same text under the same keys
/// only the clock can change the answer, so a remembered token is checked against its `exp`
/// alone. `nbf` had passed when it verified, and time only moves on. Re-reading the keys
/// empties the map (a removed key stops verifying at once), and `generation` keeps a check that
/// began with the old keys from remembering its token after that.
#[derive(Default)]
struct Verified {
    generation: u64,
    tokens: HashMap<Box<str>, (Actor, i64)>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

/// A kid is a plain name: it names a file, so no path separators, dots or anything exotic.
fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 64
        && kid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Reads `<kid>.hs256`, `<kid>.rs256.pem` and `<kid>.eddsa.pem` files from `dir`.
fn load_dir(dir: &Path) -> Result<HashMap<String, VerificationKey>, String> {
    let mut keys = HashMap::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read key folder {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let (kid, algorithm) = if let Some(kid) = name.strip_suffix(".hs256") {
            (kid, Algorithm::HS256)
        } else if let Some(kid) = name.strip_suffix(".rs256.pem") {
            (kid, Algorithm::RS256)
        } else if let Some(kid) = name.strip_suffix(".eddsa.pem") {
            (kid, Algorithm::EdDSA)
        } else {
            continue;
        };
        if !valid_kid(kid) {
            return Err(format!(
                "{}: a key id may only hold letters, digits, '-' and '_'",
                path.display()
            ));
        }
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let key = match algorithm {
            Algorithm::RS256 => DecodingKey::from_rsa_pem(&bytes),
            Algorithm::EdDSA => DecodingKey::from_ed_pem(&bytes),
            _ => {
                let secret = String::from_utf8_lossy(&bytes).trim().to_owned();
                if secret.len() < 16 {
                    return Err(format!(
                        "{}: an HS256 secret needs at least 16 characters",
                        path.display()
                    ));
                }
                Ok(DecodingKey::from_secret(secret.as_bytes()))
            }
        }
        .map_err(|e| format!("{}: not a usable key: {e}", path.display()))?;
        keys.insert(kid.to_owned(), VerificationKey { algorithm, key });
    }
    Ok(keys)
}

impl JwtKeys {
    /// Keys from a configuration; reads the key folder.
    ///
    /// # Errors
    /// When the folder or a key in it cannot be read, or the kid is malformed.
    pub fn new(config: JwtConfig) -> Result<Self, String> {
        if !valid_kid(&config.kid) {
            return Err(format!("`{}` is not a usable key id", config.kid));
        }
        let keys = Self {
            encoding: EncodingKey::from_secret(&config.secret),
            keys: RwLock::new(Arc::new(HashMap::new())),
            verified: Mutex::new(Verified::default()),
            config,
        };
        keys.reload()?;
        Ok(keys)
    }

    /// Keys from a shared secret with the default settings.
    pub fn from_secret(secret: &[u8]) -> Self {
        Self::new(JwtConfig::with_secret(secret))
            .unwrap_or_else(|e| unreachable!("no key folder to fail: {e}"))
    }

    /// Re-reads the key folder (on SIGHUP). On failure the keys in use stay as they were.
    ///
    /// # Errors
    /// When the folder or a key cannot be read.
    pub fn reload(&self) -> Result<usize, String> {
        let mut keys = match &self.config.keys_dir {
            Some(dir) => load_dir(dir)?,
            None => HashMap::new(),
        };
        keys.insert(
            self.config.kid.clone(),
            VerificationKey {
                algorithm: Algorithm::HS256,
                key: DecodingKey::from_secret(&self.config.secret),
            },
        );
        let count = keys.len();
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        // After the swap: a check that read the generation before this saw the old keys or the
        // new ones, and in either case may not remember its token (see `Verified`).
        let mut verified = self.verified();
        verified.generation += 1;
        verified.tokens.clear();
        Ok(count)
    }

    /// Signs an access token for `user`, valid for `ttl`.
    ///
    /// # Errors
    /// When signing fails (a broken key).
    pub fn issue(
        &self,
        user: &User,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), String> {
        let expires = now + ttl;
        let claims = Claims {
            sub: user.id.to_string(),
            role: user.role.as_str().to_owned(),
            cust: user.customer_id.map(CustomerId::get),
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            iat: now.timestamp(),
            exp: expires.timestamp(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.config.kid.clone());
        let token = encode(&header, &claims, &self.encoding).map_err(|e| e.to_string())?;
        Ok((token, expires))
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, Verified> {
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Verifies a token: who it speaks for and until when. A token that verified before is
    /// only checked for expiry (see [`Verified`]).
    fn check(&self, token: &str) -> Result<(Actor, DateTime<Utc>), String> {
        let generation = {
            let mut verified = self.verified();
            if let Some(&(actor, exp)) = verified.tokens.get(token) {
                // jsonwebtoken's rule: expired when `exp` is before now less the leeway.
                let leeway = i64::try_from(self.config.leeway_secs).unwrap_or(i64::MAX);
                if exp.saturating_add(leeway) >= Utc::now().timestamp() {
                    let expires = DateTime::from_timestamp(exp, 0).ok_or("invalid token expiry")?;
                    return Ok((actor, expires));
                }
                // Expired for good: the full check below refuses it with the reason.
                verified.tokens.remove(token);
            }
            verified.generation
        };
        let (actor, expires) = self.check_fully(token)?;
        let mut verified = self.verified();
        if verified.generation == generation {
            if verified.tokens.len() >= VERIFIED_TOKENS {
                verified.tokens.clear();
            }
            verified
                .tokens
                .insert(token.into(), (actor, expires.timestamp()));
        }
        Ok((actor, expires))
    }

    /// Verifies a token's signature and claims.
    fn check_fully(&self, token: &str) -> Result<(Actor, DateTime<Utc>), String> {
        let header = decode_header(token).map_err(|e| format!("invalid token: {e}"))?;
        let kid = header.kid.as_deref().unwrap_or(&self.config.kid);
        if !valid_kid(kid) {
            return Err("invalid token: malformed key id".into());
        }
        let keys = Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner));
        let key = keys.get(kid).ok_or("invalid token: unknown key id")?;
        // The key decides the algorithm, never the token.
        if header.alg != key.algorithm {
            return Err("invalid token: algorithm does not match the key".into());
        }
        let mut validation = Validation::new(key.algorithm);
        validation.algorithms = vec![key.algorithm];
        validation.set_issuer(&[&self.config.issuer]);
        // jsonwebtoken checks `aud` only when the token has one: require it when configured.
        match &self.config.audience {
            Some(audience) => {
                validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
                validation.set_audience(&[audience]);
            }
            None => {
                validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
                validation.validate_aud = false;
            }
        }
        validation.leeway = self.config.leeway_secs;
        validation.validate_nbf = true;
        let claims = decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| format!("invalid token: {e}"))?
            .claims;
        let user_id = claims
            .sub
            .parse::<i64>()
            .map_err(|_| "invalid token subject".to_owned())?;
        let role = Role::parse(&claims.role).map_err(|_| "invalid token role".to_owned())?;
        let expires = DateTime::from_timestamp(claims.exp, 0).ok_or("invalid token expiry")?;
        Ok((
            Actor {
                user_id: UserId(user_id),
                role,
                customer_id: claims.cust.map(CustomerId),
            },
            expires,
        ))
    }

    /// Verifies a token and returns who it speaks for.
    pub fn verify(&self, token: &str) -> Auth {
        match self.check(token) {
            Ok((actor, _)) => Auth::User(actor),
            Err(reason) => Auth::Invalid(reason),
        }
    }

    /// Reads `Bearer <token>` (case-insensitive scheme) from a header value.
    pub fn from_bearer(&self, header: Option<&str>) -> Auth {
        self.from_bearer_with_expiry(header).0
    }

    /// Like [`from_bearer`](Self::from_bearer), and for a verified token also when it expires
    /// (its `exp`): a websocket outlives the request that presented the token and must end when
    /// the token does.
    pub fn from_bearer_with_expiry(&self, header: Option<&str>) -> (Auth, Option<DateTime<Utc>>) {
        match header.map(str::trim) {
            None | Some("") => (Auth::Anonymous, None),
            Some(value) => match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    match self.check(token.trim()) {
                        Ok((actor, expires)) => (Auth::User(actor), Some(expires)),
                        Err(reason) => (Auth::Invalid(reason), None),
                    }
                }
                _ => (
                    Auth::Invalid("the authorization header must be `Bearer <token>`".into()),
                    None,
                ),
            },
        }
    }
}

/// Parses durations like `90s`, `15m`, `1h`, `7d`.
///
/// # Errors
/// A message for anything else.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90s, 15m, 1h, 7d"))?;
    let duration = match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" | "" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => return Err(format!("`{text}` is not a duration like 90s, 15m, 1h, 7d")),
    };
    if duration <= Duration::zero() || duration > Duration::days(366) {
        return Err(format!(
            "`{text}`: a token lives between 1 second and 366 days"
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use domain::user::Email;
    use rust_decimal::Decimal;

    use super::*;

    fn user() -> User {
        User {
            id: UserId(7),
            email: Email::parse("a@b.co").unwrap(),
            name: "A".into(),
            role: Role::Customer,
            manager_id: None,
            customer_id: Some(CustomerId(3)),
            discount_authority: Decimal::ZERO,
            password_hash: None,
        }
    }

    #[test]
    fn a_token_round_trips_to_the_same_actor() {
        let keys = JwtKeys::from_secret(b"secret");
        let (token, _) = keys.issue(&user(), Duration::hours(1), Utc::now()).unwrap();
        match keys.from_bearer(Some(&format!("Bearer {token}"))) {
            Auth::User(actor) => {
                assert_eq!(actor.user_id, UserId(7));
                assert_eq!(actor.role, Role::Customer);
                assert_eq!(actor.customer_id, Some(CustomerId(3)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn expired_foreign_and_malformed_tokens_are_refused() {
        let keys = JwtKeys::from_secret(b"secret");
        let (expired, _) = keys
            .issue(
                &user(),
                Duration::seconds(1),
                Utc::now() - Duration::hours(1),
            )
            .unwrap();
        let (foreign, _) = JwtKeys::from_secret(b"other")
            .issue(&user(), Duration::hours(1), Utc::now())
            .unwrap();
        for token in [expired.as_str(), foreign.as_str(), "garbage", ""] {
            assert!(!matches!(keys.verify(token), Auth::User(_)), "{token}");
        }
        assert!(matches!(
            keys.from_bearer(Some("Basic abc")),
            Auth::Invalid(_)
        ));
        assert!(matches!(keys.from_bearer(None), Auth::Anonymous));
    }

    #[test]
    fn a_verified_token_reports_its_expiry_and_a_refused_one_none() {
        let keys = JwtKeys::from_secret(b"secret");
        let (token, expires) = keys
            .issue(&user(), Duration::minutes(5), Utc::now())
            .unwrap();
        let (auth, at) = keys.from_bearer_with_expiry(Some(&format!("Bearer {token}")));
        assert!(matches!(auth, Auth::User(_)));
        assert_eq!(at.map(|at| at.timestamp()), Some(expires.timestamp()));
        for header in [None, Some("Bearer garbage"), Some("Basic abc")] {
            let (auth, at) = keys.from_bearer_with_expiry(header);
            assert!(!matches!(auth, Auth::User(_)), "{header:?}");
            assert_eq!(at, None, "{header:?}");
        }
    }

    #[test]
    fn a_token_verified_before_still_expires_on_time() {
        let keys = JwtKeys::new(JwtConfig {
            leeway_secs: 0,
            ..JwtConfig::with_secret(b"secret")
        })
        .unwrap();
        // Valid for about one more second.
        let now = Utc::now();
        let (token, expires) = keys.issue(&user(), Duration::seconds(1), now).unwrap();
        let bearer = format!("Bearer {token}");
        for _ in 0..2 {
            let (auth, at) = keys.from_bearer_with_expiry(Some(&bearer));
            assert!(matches!(auth, Auth::User(actor) if actor.user_id == UserId(7)));
            assert_eq!(at.map(|at| at.timestamp()), Some(expires.timestamp()));
        }
        std::thread::sleep(std::time::Duration::from_millis(2100));
        match keys.from_bearer(Some(&bearer)) {
            Auth::Invalid(reason) => assert!(reason.contains("Expired"), "{reason}"),
            other => panic!("an expired token was accepted: {other:?}"),
        }
    }

    #[test]
    fn a_removed_key_stops_verifying_the_tokens_it_verified_before() {
        let dir = tempfile::tempdir().unwrap();
        let secret = "a-partner-secret-long-enough";
        std::fs::write(dir.path().join("partner.hs256"), secret).unwrap();
        let keys = JwtKeys::new(JwtConfig {
            keys_dir: Some(dir.path().to_path_buf()),
            ..JwtConfig::with_secret(b"secret")
        })
        .unwrap();
        let partner = JwtKeys::new(JwtConfig {
            kid: "partner".into(),
            ..JwtConfig::with_secret(secret.as_bytes())
        })
        .unwrap();
        let (token, _) = partner
            .issue(&user(), Duration::hours(1), Utc::now())
            .unwrap();
        assert!(matches!(keys.verify(&token), Auth::User(_)));
        assert!(matches!(keys.verify(&token), Auth::User(_)));
        std::fs::remove_file(dir.path().join("partner.hs256")).unwrap();
        keys.reload().unwrap();
        match keys.verify(&token) {
            Auth::Invalid(reason) => assert!(reason.contains("unknown key id"), "{reason}"),
            other => panic!("a token of a removed key was accepted: {other:?}"),
        }
    }

    #[test]
    fn ttls_parse() {
        assert_eq!(parse_ttl("90s").unwrap(), Duration::seconds(90));
        assert_eq!(parse_ttl("1h").unwrap(), Duration::hours(1));
        assert_eq!(parse_ttl("7d").unwrap(), Duration::days(7));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("1y").is_err());
        assert!(parse_ttl("").is_err());
    }
}
