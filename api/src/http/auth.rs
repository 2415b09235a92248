//! JWT access tokens: issuing (login, `orderdesk token`) and verifying (every request and every
//! websocket `connection_init`).

use chrono::{DateTime, Duration, Utc};
use domain::user::{Actor, Role, User};
use domain::{CustomerId, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

/// Issuer written into and required from every token.
const ISSUER: &str = "orderdesk";

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
    iat: i64,
    exp: i64,
}

/// Signing and verification keys (HS256 with a shared secret).
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

impl JwtKeys {
    /// Keys from a shared secret.
    pub fn from_secret(secret: &[u8]) -> Self {
        // Listed explicitly: a token may not choose its own algorithm (no `none`, no RS/HS confusion).
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 30;
        validation.validate_nbf = true;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
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
            iss: ISSUER.to_owned(),
            iat: now.timestamp(),
            exp: expires.timestamp(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| e.to_string())?;
        Ok((token, expires))
    }

    /// Verifies a token and returns who it speaks for.
    pub fn verify(&self, token: &str) -> Auth {
        let claims = match decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => data.claims,
            Err(err) => return Auth::Invalid(format!("invalid token: {err}")),
        };
        let Ok(user_id) = claims.sub.parse::<i64>() else {
            return Auth::Invalid("invalid token subject".into());
        };
        let Ok(role) = Role::parse(&claims.role) else {
            return Auth::Invalid("invalid token role".into());
        };
        Auth::User(Actor {
            user_id: UserId(user_id),
            role,
            customer_id: claims.cust.map(CustomerId),
        })
    }

    /// Reads `Bearer <token>` (case-insensitive scheme) from a header value.
    pub fn from_bearer(&self, header: Option<&str>) -> Auth {
        match header.map(str::trim) {
            None | Some("") => Auth::Anonymous,
            Some(value) => match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    self.verify(token.trim())
                }
                _ => Auth::Invalid("the authorization header must be `Bearer <token>`".into()),
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
    fn ttls_parse() {
        assert_eq!(parse_ttl("90s").unwrap(), Duration::seconds(90));
        assert_eq!(parse_ttl("1h").unwrap(), Duration::hours(1));
        assert_eq!(parse_ttl("7d").unwrap(), Duration::days(7));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("1y").is_err());
        assert!(parse_ttl("").is_err());
    }
}
