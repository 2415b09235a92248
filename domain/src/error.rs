//! Typed errors of the domain. The API maps each variant to one GraphQL error code.

use crate::lifecycle::{CommandKind, OrderStatus};

/// A value that failed validation: which field, and why, in words a user can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A field's value is malformed or out of range.
    #[error("{field}: {message}")]
    Invalid {
        /// The input field, as the client named it.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl ValidationError {
    /// Shorthand for [`ValidationError::Invalid`].
    #[must_use]
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    /// The offending field.
    #[must_use]
    pub fn field(&self) -> &'static str {
        match self {
            Self::Invalid { field, .. } => field,
        }
    }
}

/// Why a command on an order was refused. A refused command changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// The command is not allowed in the order's current status.
    #[error(
        "cannot {command} an order that is {from}; allowed next statuses: {}",
        list(allowed)
    )]
    InvalidTransition {
        /// The status the order is in.
        from: OrderStatus,
        /// What was attempted.
        command: CommandKind,
        /// The statuses `transitionOrder` could move it to from here.
        allowed: Vec<OrderStatus>,
    },
    /// The command is allowed, but a business precondition is not met (e.g. not fully paid).
    #[error("cannot {command} an order that is {from}: {reason}")]
    PreconditionFailed {
        /// The status the order is in.
        from: OrderStatus,
        /// What was attempted.
        command: CommandKind,
        /// The unmet precondition, in words.
        reason: String,
    },
    /// The actor's role does not permit the command.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The command's input is invalid.
    #[error(transparent)]
    Validation(#[from] ValidationError),
}

fn list(statuses: &[OrderStatus]) -> String {
    if statuses.is_empty() {
        return "none (final status)".to_owned();
    }
    statuses
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
