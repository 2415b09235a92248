//! The order lifecycle: statuses, commands, the transition table, and the one function that
//! decides whether a command is accepted and what it produces.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{optional_text, required_text};
use crate::error::{OrderError, ValidationError};
use crate::event::OrderEventKind;
use crate::order::{Confirmation, ConfirmationChannel, Order, OrderContent};
use crate::review::{Finding, outcome_of};
use crate::user::{Actor, Role};

/// Main status of an order (DESIGN.md "Order lifecycle").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Being written by the rep.
    Draft,
    /// Review found blockers, or a manager sent it back.
    NeedsRevision,
    /// Review passed with findings a manager must approve.
    PendingApproval,
    /// Ready to be confirmed by the customer.
    Approved,
    /// The customer confirmed it.
    Confirmed,
    /// Being produced.
    InProduction,
    /// Produced or in stock, waiting for shipment.
    ReadyToShip,
    /// Some lines or quantities shipped.
    PartiallyShipped,
    /// Everything shipped.
    Shipped,
    /// Everything delivered.
    Delivered,
    /// Delivered and fully paid. Final.
    Completed,
    /// Paused; resumes to the status it was held in.
    OnHold,
    /// Cancelled with a reason. Final.
    Cancelled,
}

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [OrderStatus; 13] = [
        OrderStatus::Draft,
        OrderStatus::NeedsRevision,
        OrderStatus::PendingApproval,
        OrderStatus::Approved,
        OrderStatus::Confirmed,
        OrderStatus::InProduction,
        OrderStatus::ReadyToShip,
        OrderStatus::PartiallyShipped,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Completed,
        OrderStatus::OnHold,
        OrderStatus::Cancelled,
    ];

    /// The stable upper-case name used in storage and the API.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Draft => "DRAFT",
            OrderStatus::NeedsRevision => "NEEDS_REVISION",
            OrderStatus::PendingApproval => "PENDING_APPROVAL",
            OrderStatus::Approved => "APPROVED",
            OrderStatus::Confirmed => "CONFIRMED",
            OrderStatus::InProduction => "IN_PRODUCTION",
            OrderStatus::ReadyToShip => "READY_TO_SHIP",
            OrderStatus::PartiallyShipped => "PARTIALLY_SHIPPED",
            OrderStatus::Shipped => "SHIPPED",
            OrderStatus::Delivered => "DELIVERED",
            OrderStatus::Completed => "COMPLETED",
            OrderStatus::OnHold => "ON_HOLD",
            OrderStatus::Cancelled => "CANCELLED",
        }
    }

    /// Parses the stable name.
    ///
    /// # Errors
    /// `ValidationError::Invalid` for an unknown name.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| ValidationError::invalid("status", format!("unknown status `{text}`")))
    }

    /// COMPLETED and CANCELLED accept no further command.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Completed | OrderStatus::Cancelled)
    }

    /// Statuses from which an order may be put on hold (CONFIRMED .. SHIPPED).
    #[must_use]
    pub fn is_holdable(self) -> bool {
        matches!(
            self,
            OrderStatus::Confirmed
                | OrderStatus::InProduction
                | OrderStatus::ReadyToShip
                | OrderStatus::PartiallyShipped
                | OrderStatus::Shipped
        )
    }

    /// Statuses from which an order may be cancelled (DRAFT .. READY_TO_SHIP).
    #[must_use]
    pub fn is_cancellable(self) -> bool {
        matches!(
            self,
            OrderStatus::Draft
                | OrderStatus::NeedsRevision
                | OrderStatus::PendingApproval
                | OrderStatus::Approved
                | OrderStatus::Confirmed
                | OrderStatus::InProduction
                | OrderStatus::ReadyToShip
        )
    }

    /// Whether the customer has committed (cancellation then needs a manager).
    #[must_use]
    pub fn is_confirmed_or_later(self) -> bool {
        !matches!(
            self,
            OrderStatus::Draft
                | OrderStatus::NeedsRevision
                | OrderStatus::PendingApproval
                | OrderStatus::Approved
        )
    }

    /// Whether the order's content may still be edited directly.
    #[must_use]
    pub fn is_editable(self) -> bool {
        matches!(self, OrderStatus::Draft | OrderStatus::NeedsRevision)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Invoicing and payment state, a dimension separate from the main status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// No invoice issued.
    Uninvoiced,
    /// Invoiced, nothing paid.
    Invoiced,
    /// Part of the invoiced amount paid.
    PartiallyPaid,
    /// Fully paid.
    Paid,
}

impl PaymentStatus {
    /// The stable upper-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Uninvoiced => "UNINVOICED",
            PaymentStatus::Invoiced => "INVOICED",
            PaymentStatus::PartiallyPaid => "PARTIALLY_PAID",
            PaymentStatus::Paid => "PAID",
        }
    }

    /// Parses the stable name.
    ///
    /// # Errors
    /// `ValidationError::Invalid` for an unknown name.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        [
            PaymentStatus::Uninvoiced,
            PaymentStatus::Invoiced,
            PaymentStatus::PartiallyPaid,
            PaymentStatus::Paid,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| ValidationError::invalid("paymentStatus", format!("unknown `{text}`")))
    }
}

/// What kind of command, without its data; names the edges of the transition table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// Edit lines, dates, address, terms of a draft.
    UpdateDraft,
    /// Submit for review.
    Submit,
    /// Manager approves a flagged order.
    Approve,
    /// Manager sends a flagged order back.
    Reject,
    /// Send an approved order back for revision.
    RequestRevision,
    /// Record the customer's confirmation.
    Confirm,
    /// Production started.
    StartProduction,
    /// Ready for shipment.
    MarkReadyToShip,
    /// Some or all goods shipped.
    Ship,
    /// Goods delivered.
    Deliver,
    /// Close a delivered, fully paid order.
    Complete,
    /// Pause the order.
    Hold,
    /// Continue a held order.
    Resume,
    /// Cancel with a reason.
    Cancel,
    /// Move the order to another sales rep (not a status change; see [`reassign`]).
    Reassign,
    /// Record a production or logistics milestone (`tracking`).
    RecordMilestone,
    /// Record a shipment with its lines; moves to PARTIALLY_SHIPPED or SHIPPED.
    RecordShipment,
    /// Raise an exception (`tracking`).
    RaiseException,
    /// Update an exception's analysis.
    UpdateException,
    /// Resolve an exception.
    ResolveException,
    /// Request or apply a change to the order's content.
    ChangeOrder,
    /// Approve a change request.
    ApproveChange,
    /// Reject a change request.
    RejectChange,
}

impl CommandKind {
    /// The verb, as used in messages.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::UpdateDraft => "update",
            CommandKind::Submit => "submit",
            CommandKind::Approve => "approve",
            CommandKind::Reject => "reject",
            CommandKind::RequestRevision => "request revision of",
            CommandKind::Confirm => "confirm",
            CommandKind::StartProduction => "start production of",
            CommandKind::MarkReadyToShip => "mark ready to ship",
            CommandKind::Ship => "ship",
            CommandKind::Deliver => "deliver",
            CommandKind::Complete => "complete",
            CommandKind::Hold => "hold",
            CommandKind::Resume => "resume",
            CommandKind::Cancel => "cancel",
            CommandKind::Reassign => "reassign",
            CommandKind::RecordMilestone => "record a milestone on",
            CommandKind::RecordShipment => "record a shipment of",
            CommandKind::RaiseException => "raise an exception on",
            CommandKind::UpdateException => "update an exception of",
            CommandKind::ResolveException => "resolve an exception of",
            CommandKind::ChangeOrder => "change",
            CommandKind::ApproveChange => "approve a change of",
            CommandKind::RejectChange => "reject a change of",
        }
    }
}

impl fmt::Display for CommandKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

use OrderStatus as S;

/// The lifecycle as data: every accepted `(from, command, to)` edge of DESIGN.md.
///
/// `decide` refuses any command whose edge is not listed here. Edges with several targets
/// (submit, ship, resume) list each target; the command's data picks one.
pub const TRANSITIONS: &[(OrderStatus, CommandKind, OrderStatus)] = {
    use CommandKind as C;
    &[
        (S::Draft, C::UpdateDraft, S::Draft),
        (S::NeedsRevision, C::UpdateDraft, S::NeedsRevision),
        (S::Draft, C::Submit, S::NeedsRevision),
        (S::Draft, C::Submit, S::PendingApproval),
        (S::Draft, C::Submit, S::Approved),
        (S::NeedsRevision, C::Submit, S::NeedsRevision),
        (S::NeedsRevision, C::Submit, S::PendingApproval),
        (S::NeedsRevision, C::Submit, S::Approved),
        (S::PendingApproval, C::Approve, S::Approved),
        (S::PendingApproval, C::Reject, S::NeedsRevision),
        (S::Approved, C::Confirm, S::Confirmed),
        (S::Approved, C::RequestRevision, S::NeedsRevision),
        (S::Confirmed, C::StartProduction, S::InProduction),
        (S::Confirmed, C::MarkReadyToShip, S::ReadyToShip),
        (S::InProduction, C::MarkReadyToShip, S::ReadyToShip),
        (S::ReadyToShip, C::Ship, S::PartiallyShipped),
        (S::ReadyToShip, C::Ship, S::Shipped),
        (S::PartiallyShipped, C::Ship, S::Shipped),
        // A recorded shipment (with its lines) moves the order by the quantities it carries;
        // a further partial shipment is only meaningful with that data, so it has no plain edge.
        (S::ReadyToShip, C::RecordShipment, S::PartiallyShipped),
        (S::ReadyToShip, C::RecordShipment, S::Shipped),
        (S::PartiallyShipped, C::RecordShipment, S::PartiallyShipped),
        (S::PartiallyShipped, C::RecordShipment, S::Shipped),
        (S::Shipped, C::Deliver, S::Delivered),
        (S::Delivered, C::Complete, S::Completed),
        (S::Confirmed, C::Hold, S::OnHold),
        (S::InProduction, C::Hold, S::OnHold),
        (S::ReadyToShip, C::Hold, S::OnHold),
        (S::PartiallyShipped, C::Hold, S::OnHold),
        (S::Shipped, C::Hold, S::OnHold),
        (S::OnHold, C::Resume, S::Confirmed),
        (S::OnHold, C::Resume, S::InProduction),
        (S::OnHold, C::Resume, S::ReadyToShip),
        (S::OnHold, C::Resume, S::PartiallyShipped),
        (S::OnHold, C::Resume, S::Shipped),
        (S::Draft, C::Cancel, S::Cancelled),
        (S::NeedsRevision, C::Cancel, S::Cancelled),
        (S::PendingApproval, C::Cancel, S::Cancelled),
        (S::Approved, C::Cancel, S::Cancelled),
        (S::Confirmed, C::Cancel, S::Cancelled),
        (S::InProduction, C::Cancel, S::Cancelled),
        (S::ReadyToShip, C::Cancel, S::Cancelled),
        (S::OnHold, C::Cancel, S::Cancelled),
    ]
};

/// Whether `(from, command, to)` is an edge of [`TRANSITIONS`].
#[must_use]
pub fn is_edge(from: OrderStatus, command: CommandKind, to: OrderStatus) -> bool {
    TRANSITIONS.contains(&(from, command, to))
}

/// Commands expressible as "move to status X" (`transitionOrder`); the others carry data
/// (submit runs review, confirm records a confirmation, approve/reject carry a comment).
const PLAIN: [CommandKind; 9] = [
    CommandKind::RequestRevision,
    CommandKind::StartProduction,
    CommandKind::MarkReadyToShip,
    CommandKind::Ship,
    CommandKind::Deliver,
    CommandKind::Complete,
    CommandKind::Hold,
    CommandKind::Resume,
    CommandKind::Cancel,
];

/// The statuses `transitionOrder` can move this order to now, ignoring role and payment.
#[must_use]
pub fn allowed_targets(order: &Order) -> Vec<OrderStatus> {
    let mut targets: Vec<OrderStatus> = Vec::new();
    for &(from, command, to) in TRANSITIONS {
        if from != order.status || !PLAIN.contains(&command) || targets.contains(&to) {
            continue;
        }
        let fits = match command {
            CommandKind::Resume => order.held_from == Some(to),
            CommandKind::Cancel if from == S::OnHold => {
                order.held_from.is_some_and(cancellable_hold)
            }
            _ => true,
        };
        if fits {
            targets.push(to);
        }
    }
    targets
}

/// A command on an existing order, with its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderCommand {
    /// Replace the content of a draft.
    UpdateDraft(OrderContent),
    /// Submit with the findings review produced (see `review::evaluate`).
    Submit {
        /// Findings; their severities decide the outcome.
        findings: Vec<Finding>,
    },
    /// Approve a flagged order.
    Approve {
        /// The manager's comment.
        comment: Option<String>,
    },
    /// Send a flagged order back.
    Reject {
        /// Why (required).
        comment: String,
    },
    /// Send an approved order back for revision.
    RequestRevision {
        /// Why (required).
        reason: String,
    },
    /// Record the customer's confirmation.
    Confirm(Confirmation),
    /// Production started.
    StartProduction,
    /// Ready to ship.
    MarkReadyToShip,
    /// Goods shipped; `complete` says whether everything is out.
    Ship {
        /// True when nothing remains to ship.
        complete: bool,
    },
    /// Delivered.
    Deliver,
    /// A shipment recorded by `tracking::plan_shipment`; `complete` when nothing remains.
    RecordShipment {
        /// True when nothing remains to ship.
        complete: bool,
    },
    /// Close a delivered and paid order.
    Complete,
    /// Pause.
    Hold {
        /// Why (required).
        reason: String,
    },
    /// Continue where it was held.
    Resume,
    /// Cancel.
    Cancel {
        /// Why (required).
        reason: String,
    },
}

impl OrderCommand {
    /// The command's kind.
    #[must_use]
    pub fn kind(&self) -> CommandKind {
        match self {
            OrderCommand::UpdateDraft(_) => CommandKind::UpdateDraft,
            OrderCommand::Submit { .. } => CommandKind::Submit,
            OrderCommand::Approve { .. } => CommandKind::Approve,
            OrderCommand::Reject { .. } => CommandKind::Reject,
            OrderCommand::RequestRevision { .. } => CommandKind::RequestRevision,
            OrderCommand::Confirm(_) => CommandKind::Confirm,
            OrderCommand::StartProduction => CommandKind::StartProduction,
            OrderCommand::MarkReadyToShip => CommandKind::MarkReadyToShip,
            OrderCommand::Ship { .. } => CommandKind::Ship,
            OrderCommand::Deliver => CommandKind::Deliver,
            OrderCommand::RecordShipment { .. } => CommandKind::RecordShipment,
            OrderCommand::Complete => CommandKind::Complete,
            OrderCommand::Hold { .. } => CommandKind::Hold,
            OrderCommand::Resume => CommandKind::Resume,
            OrderCommand::Cancel { .. } => CommandKind::Cancel,
        }
    }

    /// The plain command that moves `order` to `to` (`transitionOrder`), if there is one.
    ///
    /// # Errors
    /// `OrderError::InvalidTransition` (naming the allowed targets) when no plain command leads
    /// from the current status to `to`; `ValidationError` when a required reason is missing.
    pub fn to_status(
        order: &Order,
        to: OrderStatus,
        reason: Option<&str>,
    ) -> Result<Self, OrderError> {
        let reason_required = |field: &'static str| -> Result<String, OrderError> {
            Ok(required_text(field, reason.unwrap_or(""), 1000)?)
        };
        let kind = PLAIN.into_iter().find(|&kind| {
            is_edge(order.status, kind, to)
                && (kind != CommandKind::Resume || order.held_from == Some(to))
        });
        match kind {
            Some(CommandKind::RequestRevision) => Ok(OrderCommand::RequestRevision {
                reason: reason_required("reason")?,
            }),
            Some(CommandKind::StartProduction) => Ok(OrderCommand::StartProduction),
            Some(CommandKind::MarkReadyToShip) => Ok(OrderCommand::MarkReadyToShip),
            Some(CommandKind::Ship) => Ok(OrderCommand::Ship {
                complete: to == S::Shipped,
            }),
            Some(CommandKind::Deliver) => Ok(OrderCommand::Deliver),
            Some(CommandKind::Complete) => Ok(OrderCommand::Complete),
            Some(CommandKind::Hold) => Ok(OrderCommand::Hold {
                reason: reason_required("reason")?,
            }),
            Some(CommandKind::Resume) => Ok(OrderCommand::Resume),
            Some(CommandKind::Cancel) => Ok(OrderCommand::Cancel {
                reason: reason_required("reason")?,
            }),
            Some(
                CommandKind::UpdateDraft
                | CommandKind::Submit
                | CommandKind::Approve
                | CommandKind::Reject
                | CommandKind::Confirm
                | CommandKind::Reassign
                | CommandKind::RecordMilestone
                | CommandKind::RecordShipment
                | CommandKind::RaiseException
                | CommandKind::UpdateException
                | CommandKind::ResolveException
                | CommandKind::ChangeOrder
                | CommandKind::ApproveChange
                | CommandKind::RejectChange,
            )
            | None => Err(OrderError::InvalidTransition {
                from: order.status,
                command: command_for_target(to),
                allowed: allowed_targets(order),
            }),
        }
    }
}

/// The command a client most likely meant by "move to `to`", for error messages.
fn command_for_target(to: OrderStatus) -> CommandKind {
    match to {
        S::Draft | S::NeedsRevision => CommandKind::RequestRevision,
        S::PendingApproval => CommandKind::Submit,
        S::Approved => CommandKind::Approve,
        S::Confirmed => CommandKind::Confirm,
        S::InProduction => CommandKind::StartProduction,
        S::ReadyToShip => CommandKind::MarkReadyToShip,
        S::PartiallyShipped | S::Shipped => CommandKind::Ship,
        S::Delivered => CommandKind::Deliver,
        S::Completed => CommandKind::Complete,
        S::OnHold => CommandKind::Hold,
        S::Cancelled => CommandKind::Cancel,
    }
}

/// The accepted outcome of a command: the order as it is now and what happened, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The order after the command, with `version` incremented.
    pub order: Order,
    /// Events to store with the change, in the order they happened.
    pub events: Vec<OrderEventKind>,
    /// Whether lines changed (persistence rewrites them only then).
    pub lines_changed: bool,
}

/// Decides a command on an order: the single transition function of the lifecycle.
///
/// Pure: the caller passes the order as loaded, the command, who is acting, and the time.
/// The caller has already checked that the actor may see the order.
///
/// # Errors
/// - `InvalidTransition` when the command is not an edge from the current status;
/// - `Forbidden` when the actor's role may not issue it (approve/reject need a manager,
///   cancelling a confirmed order needs a manager, a customer may only confirm through the portal);
/// - `PreconditionFailed` when the edge exists but a business rule blocks it (completing an
///   unpaid order, resuming to a status that was never held);
/// - `Validation` for bad command data (empty reasons and comments).
pub fn decide(
    order: &Order,
    command: OrderCommand,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Decision, OrderError> {
    let kind = command.kind();
    let from = order.status;
    authorize(order, &command, actor)?;
    let mut next = order.clone();
    let mut events = Vec::new();
    let mut lines_changed = false;
    let to = match command {
        OrderCommand::UpdateDraft(content) => {
            let content = content.validate()?;
            let changed = changed_fields(&order.content, &content);
            lines_changed = order.content.lines != content.lines;
            next.content = content;
            events.push(OrderEventKind::DraftUpdated { changed });
            from
        }
        OrderCommand::Submit { findings } => {
            let to = outcome_of(&findings);
            next.findings.clone_from(&findings);
            events.push(OrderEventKind::ReviewCompleted {
                findings,
                outcome: to,
            });
            push_status(&mut events, from, to, None);
            to
        }
        OrderCommand::Approve { comment } => {
            next.cancel_reason = None;
            push_status(
                &mut events,
                from,
                S::Approved,
                optional_text("comment", comment.as_deref(), 1000)?,
            );
            S::Approved
        }
        OrderCommand::Reject { comment } => {
            let comment = required_text("comment", &comment, 1000)?;
            push_status(&mut events, from, S::NeedsRevision, Some(comment));
            S::NeedsRevision
        }
        OrderCommand::RequestRevision { reason } => {
            let reason = required_text("reason", &reason, 1000)?;
            push_status(&mut events, from, S::NeedsRevision, Some(reason));
            S::NeedsRevision
        }
        OrderCommand::Confirm(confirmation) => {
            // A rep often records a phone or e-mail confirmation after the fact, but never ahead
            // of it; a minute of slack absorbs client clock skew.
            if confirmation.confirmed_at > now + chrono::Duration::minutes(1) {
                return Err(ValidationError::invalid(
                    "confirmedAt",
                    format!("{} is in the future", confirmation.confirmed_at),
                )
                .into());
            }
            let confirmation = Confirmation {
                confirmed_by: required_text("confirmedBy", &confirmation.confirmed_by, 200)?,
                reference: optional_text("reference", confirmation.reference.as_deref(), 200)?,
                // Without an explicit promise, the customer confirmed the date they asked for.
                promised_date: confirmation.promised_date.or(order.content.requested_date),
                ..confirmation
            };
            next.confirmation = Some(confirmation.clone());
            // Until production says otherwise, the goods are expected when promised.
            next.expected_date = confirmation.promised_date;
            events.push(OrderEventKind::OrderConfirmed { confirmation });
            push_status(&mut events, from, S::Confirmed, None);
            S::Confirmed
        }
        OrderCommand::StartProduction => plain(&mut events, from, S::InProduction),
        OrderCommand::MarkReadyToShip => plain(&mut events, from, S::ReadyToShip),
        OrderCommand::Ship { complete } | OrderCommand::RecordShipment { complete } => plain(
            &mut events,
            from,
            if complete {
                S::Shipped
            } else {
                S::PartiallyShipped
            },
        ),
        OrderCommand::Deliver => plain(&mut events, from, S::Delivered),
        OrderCommand::Complete => {
            if is_edge(from, kind, S::Completed) && order.payment_status != PaymentStatus::Paid {
                return Err(OrderError::PreconditionFailed {
                    from,
                    command: kind,
                    reason: format!(
                        "it is not fully paid (payment status {})",
                        order.payment_status.as_str()
                    ),
                });
            }
            plain(&mut events, from, S::Completed)
        }
        OrderCommand::Hold { reason } => {
            let reason = required_text("reason", &reason, 1000)?;
            next.held_from = Some(from);
            push_status(&mut events, from, S::OnHold, Some(reason));
            S::OnHold
        }
        OrderCommand::Resume => {
            let to = order
                .held_from
                .filter(|_| from == S::OnHold)
                .ok_or_else(|| OrderError::InvalidTransition {
                    from,
                    command: kind,
                    allowed: allowed_targets(order),
                })?;
            next.held_from = None;
            push_status(&mut events, from, to, None);
            to
        }
        OrderCommand::Cancel { reason } => {
            let reason = required_text("reason", &reason, 1000)?;
            if from == S::OnHold && !order.held_from.is_some_and(cancellable_hold) {
                return Err(OrderError::InvalidTransition {
                    from,
                    command: kind,
                    allowed: allowed_targets(order),
                });
            }
            next.held_from = None;
            next.cancel_reason = Some(reason.clone());
            push_status(&mut events, from, S::Cancelled, Some(reason));
            S::Cancelled
        }
    };
    if !is_edge(from, kind, to) {
        return Err(OrderError::InvalidTransition {
            from,
            command: kind,
            allowed: allowed_targets(order),
        });
    }
    next.status = to;
    complete_if_settled(&mut next, &mut events);
    next.version = order.version + 1;
    next.updated_at = now;
    Ok(Decision {
        order: next,
        events,
        lines_changed,
    })
}

/// Moves an order to another sales rep (a rep leaves, territories change). Not a status change:
/// any order that is not final may move. Only a MANAGER (to themselves or a rep of their team,
/// checked by the caller who knows the team) or an ADMIN may do it.
///
/// # Errors
/// `Forbidden` for other roles; `InvalidTransition` for a final order; `Validation` when the
/// order already belongs to `to` or the reason is too long.
pub fn reassign(
    order: &Order,
    to: crate::ids::UserId,
    reason: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Decision, OrderError> {
    if !actor.role.is_manager_or_admin() {
        return Err(OrderError::Forbidden(
            "only a manager or an admin may reassign an order".into(),
        ));
    }
    if order.status.is_final() {
        return Err(OrderError::InvalidTransition {
            from: order.status,
            command: CommandKind::Reassign,
            allowed: Vec::new(),
        });
    }
    if order.sales_rep_id == to {
        return Err(ValidationError::invalid(
            "salesRepId",
            format!("order {} already belongs to user {to}", order.number),
        )
        .into());
    }
    let reason = optional_text("reason", reason, 1000)?;
    let mut next = order.clone();
    next.sales_rep_id = to;
    next.version = order.version + 1;
    next.updated_at = now;
    Ok(Decision {
        order: next,
        events: vec![OrderEventKind::OrderReassigned {
            from: order.sales_rep_id,
            to,
            reason,
        }],
        lines_changed: false,
    })
}

/// DELIVERED and fully paid means done: moves the order to COMPLETED with its event. Called
/// after every change to status or payment status, so whichever comes last closes the order.
pub fn complete_if_settled(order: &mut Order, events: &mut Vec<OrderEventKind>) {
    if order.status == S::Delivered && order.payment_status == PaymentStatus::Paid {
        events.push(OrderEventKind::StatusChanged {
            from: S::Delivered,
            to: S::Completed,
            reason: Some("delivered and fully paid".to_owned()),
        });
        order.status = S::Completed;
    }
}

/// A held order may be cancelled when the status it was held in could be: CONFIRMED ..
/// READY_TO_SHIP (a status that cannot be held, from corrupt data, does not count).
fn cancellable_hold(held_from: OrderStatus) -> bool {
    held_from.is_holdable() && held_from.is_cancellable()
}

fn plain(events: &mut Vec<OrderEventKind>, from: OrderStatus, to: OrderStatus) -> OrderStatus {
    push_status(events, from, to, None);
    to
}

fn push_status(
    events: &mut Vec<OrderEventKind>,
    from: OrderStatus,
    to: OrderStatus,
    reason: Option<String>,
) {
    if from != to {
        events.push(OrderEventKind::StatusChanged { from, to, reason });
    }
}

/// Role rules. Checked before the edge so a customer probing statuses learns nothing.
fn authorize(order: &Order, command: &OrderCommand, actor: &Actor) -> Result<(), OrderError> {
    match actor.role {
        Role::Customer => {
            let own = actor.customer_id == Some(order.customer_id);
            match command {
                OrderCommand::Confirm(c) if own && c.channel == ConfirmationChannel::Portal => {
                    Ok(())
                }
                OrderCommand::Confirm(_) if own => Err(OrderError::Forbidden(
                    "customers confirm through the PORTAL channel".into(),
                )),
                _ => Err(OrderError::Forbidden(format!(
                    "a customer may not {} orders",
                    command.kind()
                ))),
            }
        }
        Role::Sales => match command {
            OrderCommand::Approve { .. } | OrderCommand::Reject { .. } => Err(
                OrderError::Forbidden(format!("only a manager may {} an order", command.kind())),
            ),
            // ON_HOLD counts as confirmed: only confirmed orders can be held.
            OrderCommand::Cancel { .. } if order.status.is_confirmed_or_later() => {
                Err(OrderError::Forbidden(
                    "only a manager may cancel an order after the customer confirmed it".into(),
                ))
            }
            _ => Ok(()),
        },
        Role::Manager | Role::Admin => Ok(()),
    }
}

fn changed_fields(before: &OrderContent, after: &OrderContent) -> Vec<String> {
    let mut changed = Vec::new();
    if before.lines != after.lines {
        changed.push("lines".to_owned());
    }
    if before.requested_date != after.requested_date {
        changed.push("requestedDate".to_owned());
    }
    if before.delivery_address != after.delivery_address {
        changed.push("deliveryAddress".to_owned());
    }
    if before.payment_terms != after.payment_terms {
        changed.push("paymentTerms".to_owned());
    }
    if before.customer_po != after.customer_po {
        changed.push("customerPo".to_owned());
    }
    if before.notes != after.notes {
        changed.push("notes".to_owned());
    }
    changed
}
