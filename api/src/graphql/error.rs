//! The one place where failures become GraphQL errors with a stable `extensions.code`.
//!
//! `ApiError` deliberately does not implement `Display`: async-graphql converts any `Display`
//! error with `?` and silently drops the code. Without it, the only conversion is ours.

use async_graphql::{ErrorExtensions, Value};
use domain::lifecycle::OrderStatus;
use domain::ports::RepoError;
use domain::{OrderError, ValidationError};

/// An API failure, classified by what the client can do about it.
#[derive(Clone, Debug)]
pub enum ApiError {
    /// No valid credentials.
    Unauthenticated(String),
    /// Authenticated, but not allowed.
    Forbidden(String),
    /// Missing, or not visible to the caller (the two are indistinguishable on purpose).
    NotFound(String),
    /// Invalid input.
    BadInput {
        /// The offending input field.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The command is not allowed in the order's status.
    InvalidTransition {
        /// The message.
        message: String,
        /// Current status.
        from: OrderStatus,
        /// Statuses `transitionOrder` could move to.
        allowed: Vec<OrderStatus>,
        /// The business reason when the edge exists but is blocked.
        reason: Option<String>,
    },
    /// Stale `expectedVersion`, or an idempotency key reused with other input.
    Conflict {
        /// The message.
        message: String,
        /// Versions, when the conflict is about one.
        versions: Option<(i64, i64)>,
    },
    /// Rate limits (issue: hardening).
    LimitExceeded(String),
    /// A subscriber fell a full queue behind: it must resubscribe from its last cursor.
    ResyncRequired(String),
    /// The payment terms require money first (a deposit, or prepayment, before production).
    PaymentRequired(String),
    /// Anything else: logged with its cause, shown as a fixed message.
    Internal(String),
}

/// Shorthand for resolver results.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// `BAD_USER_INPUT` naming a field.
    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        Self::BadInput {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::BadInput { .. } => "BAD_USER_INPUT",
            ApiError::InvalidTransition { .. } => "INVALID_TRANSITION",
            ApiError::Conflict { .. } => "CONFLICT",
            ApiError::LimitExceeded(_) => "LIMIT_EXCEEDED",
            ApiError::PaymentRequired(_) => "PAYMENT_REQUIRED",
            ApiError::ResyncRequired(_) => "RESYNC_REQUIRED",
            ApiError::Internal(_) => "INTERNAL",
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        let code = err.code();
        let (message, extra): (String, Vec<(&str, Value)>) = match err {
            ApiError::Unauthenticated(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::LimitExceeded(m)
            | ApiError::PaymentRequired(m)
            | ApiError::ResyncRequired(m) => (m, vec![]),
            ApiError::BadInput { field, message } => (
                message,
                field
                    .map(|f| vec![("field", Value::from(f))])
                    .unwrap_or_default(),
            ),
            ApiError::InvalidTransition {
                message,
                from,
                allowed,
                reason,
            } => {
                let mut extra = vec![
                    ("from", Value::from(from.as_str())),
                    (
                        "allowed",
                        Value::List(allowed.iter().map(|s| Value::from(s.as_str())).collect()),
                    ),
                ];
                if let Some(reason) = reason {
                    extra.push(("reason", Value::from(reason)));
                }
                (message, extra)
            }
            ApiError::Conflict { message, versions } => (
                message,
                versions
                    .map(|(expected, actual)| {
                        vec![
                            ("expectedVersion", Value::from(expected)),
                            ("actualVersion", Value::from(actual)),
                        ]
                    })
                    .unwrap_or_default(),
            ),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ("internal error".to_owned(), vec![])
            }
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code);
            for (key, value) in extra {
                ext.set(key, value);
            }
        })
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        ApiError::bad_input(err.field(), err.to_string())
    }
}

impl From<OrderError> for ApiError {
    fn from(err: OrderError) -> Self {
        let message = err.to_string();
        match err {
            OrderError::InvalidTransition { from, allowed, .. } => ApiError::InvalidTransition {
                message,
                from,
                allowed,
                reason: None,
            },
            OrderError::PreconditionFailed { from, reason, .. } => ApiError::InvalidTransition {
                message,
                from,
                allowed: Vec::new(),
                reason: Some(reason),
            },
            OrderError::Forbidden(reason) => ApiError::Forbidden(reason),
            OrderError::Validation(v) => v.into(),
        }
    }
}

impl From<domain::settlement::SettlementError> for ApiError {
    fn from(err: domain::settlement::SettlementError) -> Self {
        use domain::settlement::SettlementError;
        let message = err.to_string();
        match err {
            SettlementError::NotInvoiceable(from) => ApiError::InvalidTransition {
                message: message.clone(),
                from,
                allowed: Vec::new(),
                reason: Some(message),
            },
            SettlementError::Validation(v) => v.into(),
            SettlementError::Refused(reason) => ApiError::bad_input("invoiceId", reason),
        }
    }
}

impl From<RepoError> for ApiError {
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::NotFound { entity, id } => {
                ApiError::NotFound(format!("{entity} {id} not found"))
            }
            RepoError::Conflict { expected, actual } => ApiError::Conflict {
                message: format!(
                    "the record changed since version {expected}; it is at version {actual} now: reload and retry"
                ),
                versions: Some((expected, actual)),
            },
            RepoError::Duplicate { field, value } => {
                ApiError::bad_input(field, format!("{field} `{value}` is already taken"))
            }
            RepoError::IdempotencyMismatch(key) => ApiError::Conflict {
                message: format!(
                    "idempotency key `{key}` was already used with a different request"
                ),
                versions: None,
            },
            RepoError::Storage(cause) => ApiError::Internal(cause),
        }
    }
}

/// Gives validation errors of async-graphql itself (limits, unknown fields, bad variables) the
/// code they lack, so that every error a client sees has one.
pub fn ensure_codes(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if has_code {
            continue;
        }
        let code = match error.message.as_str() {
            "Query is nested too deep." => "QUERY_TOO_DEEP",
            "Query is too complex." => "QUERY_TOO_COMPLEX",
            // Syntax, unknown fields, variables and arguments of the wrong type: all input errors.
            _ => "BAD_USER_INPUT",
        };
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
}
