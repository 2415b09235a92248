//! Following an order after confirmation: milestones, the expected delivery date, shipments,
//! exceptions and change requests (DESIGN.md "Dates", "Shipment", "Change request", "Exception").
//!
//! Everything here is decided on the order as loaded, with its shipments where quantities
//! matter; the caller stores the result against the order's version with the events returned.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalog::{Product, optional_text, required_text};
use crate::error::{OrderError, ValidationError};
use crate::event::OrderEventKind;
use crate::ids::{CustomerId, OrderId, ProductId, UserId};
use crate::lifecycle::{CommandKind, OrderStatus, allowed_targets};
use crate::money::{Currency, Money};
use crate::order::{
    DiscountPercent, LineInput, Order, OrderContent, OrderLine, Quantity, check_total, new_line,
    unit_price,
};

/// How far ahead of the server's clock a reported time may be (client clock skew).
const CLOCK_SLACK_MINUTES: i64 = 1;

fn not_in_future(
    field: &'static str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ValidationError> {
    if at > now + chrono::Duration::minutes(CLOCK_SLACK_MINUTES) {
        return Err(ValidationError::invalid(
            field,
            format!("{at} is in the future"),
        ));
    }
    Ok(())
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stable upper-case name used in storage and the API.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Parses the stable name.
            ///
            /// # Errors
            /// `ValidationError::Invalid` for an unknown name.
            pub fn parse(text: &str) -> Result<Self, ValidationError> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| {
                        ValidationError::invalid(stringify!($name), format!("unknown value `{text}`"))
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// Production and logistics milestones.
    MilestoneKind {
        /// Production started.
        ProductionStarted => "PRODUCTION_STARTED",
        /// Production finished.
        ProductionFinished => "PRODUCTION_FINISHED",
        /// Quality check done.
        QualityCheck => "QUALITY_CHECK",
        /// Packed for shipment.
        Packed => "PACKED",
    }
}

text_enum! {
    /// What went wrong.
    ExceptionKind {
        /// Production or supply is late.
        Delay => "DELAY",
        /// A quality problem.
        Quality => "QUALITY",
        /// Not enough goods.
        Shortage => "SHORTAGE",
        /// Transport trouble.
        Logistics => "LOGISTICS",
        /// A payment problem.
        Payment => "PAYMENT",
        /// The customer changed something.
        CustomerChange => "CUSTOMER_CHANGE",
        /// Anything else.
        Other => "OTHER",
    }
}

text_enum! {
    /// How bad an exception is.
    Severity {
        /// Minor.
        Low => "LOW",
        /// Noticeable.
        Medium => "MEDIUM",
        /// Serious.
        High => "HIGH",
        /// Stops the order.
        Critical => "CRITICAL",
    }
}

text_enum! {
    /// Whether an exception is still being handled.
    ExceptionStatus {
        /// Being handled.
        Open => "OPEN",
        /// Done.
        Resolved => "RESOLVED",
    }
}

text_enum! {
    /// Where a change request stands.
    ChangeStatus {
        /// Waiting for a decision.
        Proposed => "PROPOSED",
        /// Approved, not applied yet.
        Approved => "APPROVED",
        /// Refused.
        Rejected => "REJECTED",
        /// Applied to the order.
        Applied => "APPLIED",
    }
}

/// Statuses in which production and logistics are followed (milestones, exceptions' delays).
fn is_tracked(status: OrderStatus) -> bool {
    status.is_holdable() || status == OrderStatus::OnHold
}

fn refuse(order: &Order, command: CommandKind) -> OrderError {
    OrderError::InvalidTransition {
        from: order.status,
        command,
        allowed: allowed_targets(order),
    }
}

// ---------------------------------------------------------------------------------------------
// Expected delivery date

/// The date promised to the customer at confirmation (or by an applied change).
#[must_use]
pub fn promised_date(order: &Order) -> Option<NaiveDate> {
    order.confirmation.as_ref().and_then(|c| c.promised_date)
}

/// Whether the order will likely arrive after the promised date: expected later than promised,
/// or the promised date passed (`today` after it) while goods are still on their way.
#[must_use]
pub fn is_at_risk(order: &Order, today: NaiveDate) -> bool {
    let open = is_tracked(order.status);
    match promised_date(order) {
        Some(promised) if open => {
            order
                .expected_date
                .is_some_and(|expected| expected > promised)
                || today > promised
        }
        _ => false,
    }
}

/// Moves the expected delivery date of `order`, recording why; when the move takes it past the
/// promised date (and it was not past it before) a `DELIVERY_AT_RISK` event follows.
pub fn move_expected_date(
    order: &mut Order,
    to: NaiveDate,
    reason: &str,
    events: &mut Vec<OrderEventKind>,
) {
    let from = order.expected_date;
    if from == Some(to) {
        return;
    }
    order.expected_date = Some(to);
    events.push(OrderEventKind::ExpectedDateChanged {
        from,
        to,
        reason: reason.to_owned(),
    });
    if let Some(promised) = promised_date(order) {
        let was_late = from.is_some_and(|d| d > promised);
        if to > promised && !was_late {
            events.push(OrderEventKind::DeliveryAtRisk {
                promised_date: promised,
                expected_date: to,
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Milestones

/// A milestone as reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMilestone {
    /// The order.
    pub order_id: OrderId,
    /// Which milestone.
    pub kind: MilestoneKind,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Remark.
    pub note: Option<String>,
    /// Who recorded it.
    pub recorded_by: UserId,
}

/// A stored milestone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Milestone {
    /// Identity.
    pub id: i64,
    /// What was reported.
    pub details: NewMilestone,
}

/// Checks a milestone against the order and produces its events; `expected_date` optionally
/// moves the expected delivery date at the same time ("finished, ships Friday").
///
/// # Errors
/// `InvalidTransition` unless the order is between CONFIRMED and SHIPPED (or on hold);
/// `Validation` for a time in the future or an overlong note.
pub fn record_milestone(
    order: &mut Order,
    milestone: NewMilestone,
    expected_date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<(NewMilestone, Vec<OrderEventKind>), OrderError> {
    if !is_tracked(order.status) {
        return Err(refuse(order, CommandKind::RecordMilestone));
    }
    not_in_future("occurredAt", milestone.occurred_at, now)?;
    let milestone = NewMilestone {
        note: optional_text("note", milestone.note.as_deref(), 2000)?,
        ..milestone
    };
    let mut events = vec![OrderEventKind::MilestoneRecorded {
        milestone_id: 0,
        kind: milestone.kind,
        occurred_at: milestone.occurred_at,
        note: milestone.note.clone(),
    }];
    if let Some(date) = expected_date {
        let reason = format!("milestone {}", milestone.kind);
        move_expected_date(order, date, &reason, &mut events);
    }
    Ok((milestone, events))
}

// ---------------------------------------------------------------------------------------------
// Shipments

/// One line of a shipment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentLine {
    /// The order line, by its number.
    pub line_no: u32,
    /// How much of it.
    pub quantity: Quantity,
}

/// A shipment as reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewShipment {
    /// The order.
    pub order_id: OrderId,
    /// Carrier.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: Option<String>,
    /// What it carries, by order line.
    pub lines: Vec<ShipmentLine>,
    /// When it left.
    pub shipped_at: DateTime<Utc>,
    /// Who recorded it.
    pub recorded_by: UserId,
}

/// A stored shipment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shipment {
    /// Identity.
    pub id: i64,
    /// What was reported.
    pub details: NewShipment,
    /// When it arrived, once it did.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Quantity shipped so far per order line number.
#[must_use]
pub fn shipped_quantities(shipments: &[Shipment]) -> HashMap<u32, Decimal> {
    let mut shipped: HashMap<u32, Decimal> = HashMap::new();
    for line in shipments.iter().flat_map(|s| &s.details.lines) {
        *shipped.entry(line.line_no).or_default() += line.quantity.get();
    }
    shipped
}

/// Whether every line's quantity has shipped.
#[must_use]
pub fn fully_shipped(order: &Order, shipped: &HashMap<u32, Decimal>) -> bool {
    order
        .content
        .lines
        .iter()
        .all(|line| shipped.get(&line.line_no).copied().unwrap_or_default() >= line.quantity.get())
}

/// Checks a shipment against what is left to ship and says whether it completes the order.
/// Lines naming the same order line twice are merged; line order is the order's.
///
/// # Errors
/// `InvalidTransition` unless READY_TO_SHIP or PARTIALLY_SHIPPED; `Validation` for no lines,
/// an unknown line, more than remains to ship, an empty carrier, or a time in the future.
pub fn plan_shipment(
    order: &Order,
    shipments: &[Shipment],
    shipment: NewShipment,
    now: DateTime<Utc>,
) -> Result<(NewShipment, bool), OrderError> {
    if !matches!(
        order.status,
        OrderStatus::ReadyToShip | OrderStatus::PartiallyShipped
    ) {
        return Err(refuse(order, CommandKind::RecordShipment));
    }
    not_in_future("shippedAt", shipment.shipped_at, now)?;
    let carrier = required_text("carrier", &shipment.carrier, 100)?;
    let tracking_number =
        optional_text("trackingNumber", shipment.tracking_number.as_deref(), 100)?;
    if shipment.lines.is_empty() {
        return Err(
            ValidationError::invalid("lines", "a shipment carries at least one line").into(),
        );
    }
    let mut merged: BTreeMap<u32, Decimal> = BTreeMap::new();
    for line in &shipment.lines {
        *merged.entry(line.line_no).or_default() += line.quantity.get();
    }
    let mut shipped = shipped_quantities(shipments);
    let mut lines = Vec::with_capacity(merged.len());
    for (line_no, quantity) in merged {
        let ordered = order
            .content
            .lines
            .iter()
            .find(|l| l.line_no == line_no)
            .ok_or_else(|| {
                ValidationError::invalid(
                    "lineId",
                    format!("order {} has no line {line_no}", order.number),
                )
            })?;
        let before = shipped.get(&line_no).copied().unwrap_or_default();
        let remaining = ordered.quantity.get() - before;
        if quantity > remaining {
            return Err(ValidationError::invalid(
                "quantity",
                format!(
                    "line {line_no} ({}): {quantity} exceeds the {remaining} left to ship of {}",
                    ordered.sku,
                    ordered.quantity.get()
                ),
            )
            .into());
        }
        shipped.insert(line_no, before + quantity);
        lines.push(ShipmentLine {
            line_no,
            quantity: Quantity::new(quantity)?,
        });
    }
    let complete = fully_shipped(order, &shipped);
    Ok((
        NewShipment {
            carrier,
            tracking_number,
            lines,
            ..shipment
        },
        complete,
    ))
}

/// What has shipped and is not invoiced yet, per line, in line order: what
/// `issueInvoice(shipped: true)` bills.
///
/// # Errors
/// `Validation` naming `shipped` when nothing shipped is left to invoice.
pub fn shipped_not_invoiced(
    order: &Order,
    shipments: &[Shipment],
    invoices: &[crate::settlement::Invoice],
) -> Result<Vec<(u32, Decimal)>, ValidationError> {
    let shipped = shipped_quantities(shipments);
    let invoiced = crate::settlement::invoiced_per_line(invoices);
    let lines: Vec<(u32, Decimal)> = order
        .content
        .lines
        .iter()
        .filter_map(|line| {
            let out = shipped.get(&line.line_no).copied().unwrap_or_default();
            let billed = invoiced.get(&line.line_no).map_or(Decimal::ZERO, |b| b.0);
            let due = out.min(line.quantity.get()) - billed;
            (due > Decimal::ZERO).then_some((line.line_no, due))
        })
        .collect();
    if lines.is_empty() {
        return Err(ValidationError::invalid(
            "shipped",
            format!(
                "order {} has nothing shipped that is not invoiced yet",
                order.number
            ),
        ));
    }
    Ok(lines)
}

/// Whether, once `delivered` has arrived, every shipment of a fully shipped order has.
#[must_use]
pub fn all_delivered(order: &Order, shipments: &[Shipment], delivered: i64) -> bool {
    order.status == OrderStatus::Shipped
        && shipments.iter().any(|s| s.id == delivered)
        && shipments
            .iter()
            .all(|s| s.id == delivered || s.delivered_at.is_some())
}

// ---------------------------------------------------------------------------------------------
// Exceptions

/// An exception as raised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewException {
    /// The order.
    pub order_id: OrderId,
    /// The order's customer (for filtering and visibility).
    pub customer_id: CustomerId,
    /// The order's rep (for visibility).
    pub sales_rep_id: UserId,
    /// What kind.
    pub kind: ExceptionKind,
    /// How bad.
    pub severity: Severity,
    /// What happened.
    pub description: String,
    /// Estimated extra cost in the order's currency (0 when none).
    pub cost_impact: Decimal,
    /// The order's currency.
    pub currency: Currency,
    /// Estimated delay in days.
    pub delay_days: u32,
    /// Whether raising it put the order on hold.
    pub held_order: bool,
    /// Who raised it.
    pub raised_by: UserId,
    /// When.
    pub raised_at: DateTime<Utc>,
}

/// A stored exception with its analysis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderException {
    /// Identity.
    pub id: i64,
    /// As raised.
    pub details: NewException,
    /// Root cause, once analysed.
    pub root_cause: Option<String>,
    /// Actions taken or planned.
    pub actions: Option<String>,
    /// OPEN or RESOLVED.
    pub status: ExceptionStatus,
    /// How it was resolved.
    pub resolution: Option<String>,
    /// What to do differently next time.
    pub lessons_learned: Option<String>,
    /// Who resolved it.
    pub resolved_by: Option<UserId>,
    /// When.
    pub resolved_at: Option<DateTime<Utc>>,
}

impl OrderException {
    /// A just-raised exception: open, not analysed yet.
    #[must_use]
    pub fn open(id: i64, details: NewException) -> Self {
        Self {
            id,
            details,
            root_cause: None,
            actions: None,
            status: ExceptionStatus::Open,
            resolution: None,
            lessons_learned: None,
            resolved_by: None,
            resolved_at: None,
        }
    }
}

/// The longest delay an exception may announce: two years.
pub const MAX_DELAY_DAYS: u32 = 730;

/// Checks an exception and produces its events; its delay moves the expected delivery date
/// (from the expected date, else the promised one, else today).
///
/// # Errors
/// `InvalidTransition` before confirmation or once cancelled; `Validation` for an empty
/// description, a negative or inexact cost, or a delay beyond [`MAX_DELAY_DAYS`].
pub fn raise_exception(
    order: &mut Order,
    exception: NewException,
    today: NaiveDate,
) -> Result<(NewException, Vec<OrderEventKind>), OrderError> {
    if !order.status.is_confirmed_or_later() || order.status == OrderStatus::Cancelled {
        return Err(refuse(order, CommandKind::RaiseException));
    }
    let description = required_text("description", &exception.description, 4000)?;
    if exception.cost_impact.is_sign_negative() {
        return Err(ValidationError::invalid("costImpact", "must not be negative").into());
    }
    let cost = Money::new(exception.cost_impact, order.currency)
        .map_err(|e| ValidationError::invalid("costImpact", e.to_string()))?;
    if cost.amount().scale() > order.currency.minor_units() {
        return Err(ValidationError::invalid(
            "costImpact",
            format!(
                "{} has more decimals than {} has ({})",
                cost.amount(),
                order.currency,
                order.currency.minor_units()
            ),
        )
        .into());
    }
    if exception.delay_days > MAX_DELAY_DAYS {
        return Err(ValidationError::invalid(
            "delayDays",
            format!("must be at most {MAX_DELAY_DAYS}"),
        )
        .into());
    }
    if exception.delay_days > 0 && !is_tracked(order.status) {
        return Err(ValidationError::invalid(
            "delayDays",
            format!(
                "order {} is {} and no longer has a delivery to delay",
                order.number, order.status
            ),
        )
        .into());
    }
    let exception = NewException {
        description,
        cost_impact: cost.amount(),
        currency: order.currency,
        ..exception
    };
    let mut events = vec![OrderEventKind::ExceptionRaised {
        exception_id: 0,
        kind: exception.kind,
        severity: exception.severity,
        description: exception.description.clone(),
        cost_impact: exception.cost_impact,
        delay_days: exception.delay_days,
    }];
    if exception.delay_days > 0 {
        let base = order
            .expected_date
            .or(promised_date(order))
            .unwrap_or(today);
        let to = base + chrono::Duration::days(i64::from(exception.delay_days));
        // Customers see date changes (not exceptions): the reason says what, not why.
        let reason = format!("delayed {} days", exception.delay_days);
        move_expected_date(order, to, &reason, &mut events);
    }
    Ok((exception, events))
}

/// Records root cause and actions on an open exception.
///
/// # Errors
/// `PreconditionFailed` when resolved; `Validation` for overlong texts or nothing to update.
pub fn update_exception(
    order: &Order,
    exception: &OrderException,
    root_cause: Option<String>,
    actions: Option<String>,
) -> Result<(OrderException, OrderEventKind), OrderError> {
    if exception.status == ExceptionStatus::Resolved {
        return Err(OrderError::PreconditionFailed {
            from: order.status,
            command: CommandKind::UpdateException,
            reason: format!("exception {} is already resolved", exception.id),
        });
    }
    if root_cause.is_none() && actions.is_none() {
        return Err(ValidationError::invalid("input", "give a rootCause or actions").into());
    }
    let mut next = exception.clone();
    if let Some(text) = root_cause {
        next.root_cause = optional_text("rootCause", Some(&text), 4000)?;
    }
    if let Some(text) = actions {
        next.actions = optional_text("actions", Some(&text), 4000)?;
    }
    let event = OrderEventKind::ExceptionUpdated {
        exception_id: next.id,
        root_cause: next.root_cause.clone(),
        actions: next.actions.clone(),
    };
    Ok((next, event))
}

/// Resolves an open exception.
///
/// # Errors
/// `PreconditionFailed` when already resolved; `Validation` for an empty resolution.
pub fn resolve_exception(
    order: &Order,
    exception: &OrderException,
    resolution: &str,
    lessons_learned: Option<&str>,
    actor: UserId,
    now: DateTime<Utc>,
) -> Result<(OrderException, OrderEventKind), OrderError> {
    if exception.status == ExceptionStatus::Resolved {
        return Err(OrderError::PreconditionFailed {
            from: order.status,
            command: CommandKind::ResolveException,
            reason: format!("exception {} is already resolved", exception.id),
        });
    }
    let mut next = exception.clone();
    next.status = ExceptionStatus::Resolved;
    next.resolution = Some(required_text("resolution", resolution, 4000)?);
    next.lessons_learned = optional_text("lessonsLearned", lessons_learned, 4000)?;
    next.resolved_by = Some(actor);
    next.resolved_at = Some(now);
    let event = OrderEventKind::ExceptionResolved {
        exception_id: next.id,
        resolution: next.resolution.clone().unwrap_or_default(),
        lessons_learned: next.lessons_learned.clone(),
    };
    Ok((next, event))
}

// ---------------------------------------------------------------------------------------------
// Change requests

/// One line of a proposed change: an existing line by number, or a new product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineChange {
    /// The existing line to change; `None` adds a line.
    pub line_no: Option<u32>,
    /// For a new line: the product.
    pub product_id: Option<ProductId>,
    /// The new quantity; 0 removes an existing line.
    pub quantity: Decimal,
    /// New unit price; kept (existing line) or list price (new line) when absent.
    pub unit_price: Option<Decimal>,
    /// New discount; kept (existing line) or 0 (new line) when absent.
    pub discount_percent: Option<Decimal>,
}

/// What a change request proposes. Absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeProposal {
    /// Line edits, additions and removals.
    pub lines: Vec<LineChange>,
    /// A new promised delivery date.
    pub promised_date: Option<NaiveDate>,
    /// A new delivery address.
    pub delivery_address: Option<String>,
}

/// One field of the order changed by a change, from and to, as text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// `lines[3].quantity`, `lines[4]` (added or removed), `promisedDate`, `deliveryAddress`.
    pub field: String,
    /// Before (none for an added line).
    pub from: Option<String>,
    /// After (none for a removed line).
    pub to: Option<String>,
}

/// What applying a proposal to the order as it is now would give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeImpact {
    /// The content after the change.
    pub content: OrderContent,
    /// The promised date after the change.
    pub promised_date: Option<NaiveDate>,
    /// Total before.
    pub total_before: Decimal,
    /// Total after.
    pub total_after: Decimal,
    /// Expected delivery before.
    pub expected_before: Option<NaiveDate>,
    /// Expected delivery after: added or increased lines need their lead time from today.
    pub expected_after: Option<NaiveDate>,
    /// Each field changed.
    pub changes: Vec<FieldChange>,
}

impl ChangeImpact {
    /// New total minus old total.
    #[must_use]
    pub fn amount_delta(&self) -> Decimal {
        self.total_after - self.total_before
    }

    /// Days the expected delivery moves (positive: later).
    #[must_use]
    pub fn delay_days(&self) -> i64 {
        match (self.expected_before, self.expected_after) {
            (Some(before), Some(after)) => (after - before).num_days(),
            _ => 0,
        }
    }
}

/// Statuses in which a change request may be made and applied.
#[must_use]
pub fn is_changeable(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Approved
            | OrderStatus::Confirmed
            | OrderStatus::InProduction
            | OrderStatus::ReadyToShip
            | OrderStatus::PartiallyShipped
    )
}

fn show_line(line: &OrderLine) -> String {
    format!(
        "{} x {} @ {} -{}%",
        line.sku,
        line.quantity.get(),
        line.unit_price,
        line.discount.get()
    )
}

/// What besides the order a change is checked against: lines cannot go below what has shipped
/// or been invoiced, and new lines get numbers never used on the order (invoices and earlier
/// revisions refer to lines by number).
#[derive(Clone, Debug, Default)]
pub struct ChangeBasis<'a> {
    /// The order's shipments.
    pub shipments: &'a [Shipment],
    /// Quantity invoiced per line number (valid goods invoices).
    pub invoiced: HashMap<u32, Decimal>,
    /// The highest line number the order ever had (earlier revisions included).
    pub highest_line_no: u32,
}

impl<'a> From<&'a [Shipment]> for ChangeBasis<'a> {
    fn from(shipments: &'a [Shipment]) -> Self {
        Self {
            shipments,
            ..Self::default()
        }
    }
}

impl<'a> From<&'a Vec<Shipment>> for ChangeBasis<'a> {
    fn from(shipments: &'a Vec<Shipment>) -> Self {
        Self::from(shipments.as_slice())
    }
}

impl<'a, const N: usize> From<&'a [Shipment; N]> for ChangeBasis<'a> {
    fn from(shipments: &'a [Shipment; N]) -> Self {
        Self::from(shipments.as_slice())
    }
}

/// Computes what `proposal` would do to `order` now. Pure preview: nothing is stored.
///
/// # Errors
/// `InvalidTransition` outside APPROVED .. PARTIALLY_SHIPPED; `Validation` for an empty
/// proposal, an unknown line, a line reduced below what has shipped or been invoiced, an unknown, inactive or
/// foreign-currency product, invalid quantities, prices or discounts, or a change that
/// changes nothing.
pub fn preview_change<'a>(
    order: &Order,
    basis: impl Into<ChangeBasis<'a>>,
    proposal: &ChangeProposal,
    products: &HashMap<ProductId, Product>,
    today: NaiveDate,
) -> Result<ChangeImpact, OrderError> {
    if !is_changeable(order.status) {
        return Err(refuse(order, CommandKind::ChangeOrder));
    }
    let basis = basis.into();
    let shipped = shipped_quantities(basis.shipments);
    let mut content = order.content.clone();
    let mut changes = Vec::new();
    let mut lead_days: Option<u16> = None;
    let mut next_line_no = content
        .lines
        .iter()
        .map(|l| l.line_no)
        .max()
        .unwrap_or(0)
        .max(basis.highest_line_no);
    let mut touched: Vec<u32> = Vec::new();

    for change in &proposal.lines {
        match change.line_no {
            Some(line_no) => {
                if touched.contains(&line_no) {
                    return Err(ValidationError::invalid(
                        "lineId",
                        format!("line {line_no} is changed twice"),
                    )
                    .into());
                }
                touched.push(line_no);
                let index = content
                    .lines
                    .iter()
                    .position(|l| l.line_no == line_no)
                    .ok_or_else(|| {
                        ValidationError::invalid(
                            "lineId",
                            format!("order {} has no line {line_no}", order.number),
                        )
                    })?;
                let before = content.lines[index].clone();
                if change.quantity.is_sign_negative() {
                    return Err(ValidationError::invalid(
                        "quantity",
                        format!(
                            "line {line_no}: a quantity cannot be negative (0 removes the line)"
                        ),
                    )
                    .into());
                }
                for (floor, what) in [
                    (shipped.get(&line_no), "shipped"),
                    (basis.invoiced.get(&line_no), "invoiced"),
                ] {
                    let floor = floor.copied().unwrap_or_default();
                    if change.quantity < floor {
                        return Err(ValidationError::invalid(
                            "quantity",
                            format!(
                                "line {line_no} ({}) has {floor} {what} already; it cannot go below that",
                                before.sku
                            ),
                        )
                        .into());
                    }
                }
                if change.quantity.is_zero() {
                    content.lines.remove(index);
                    changes.push(FieldChange {
                        field: format!("lines[{line_no}]"),
                        from: Some(show_line(&before)),
                        to: None,
                    });
                    continue;
                }
                let mut after = before.clone();
                after.quantity = Quantity::new(change.quantity)?;
                if let Some(price) = change.unit_price {
                    after.unit_price = unit_price(price, order.currency)?;
                }
                if let Some(discount) = change.discount_percent {
                    after.discount = DiscountPercent::new(discount)?;
                }
                if after.quantity > before.quantity {
                    let lead = products
                        .get(&after.product_id)
                        .map_or(0, |p| p.details.lead_time_days);
                    lead_days = lead_days.max(Some(lead));
                }
                let field =
                    |name: &str, from: String, to: String, changes: &mut Vec<FieldChange>| {
                        if from != to {
                            changes.push(FieldChange {
                                field: format!("lines[{line_no}].{name}"),
                                from: Some(from),
                                to: Some(to),
                            });
                        }
                    };
                field(
                    "quantity",
                    before.quantity.get().to_string(),
                    after.quantity.get().to_string(),
                    &mut changes,
                );
                field(
                    "unitPrice",
                    before.unit_price.to_string(),
                    after.unit_price.to_string(),
                    &mut changes,
                );
                field(
                    "discountPercent",
                    before.discount.get().to_string(),
                    after.discount.get().to_string(),
                    &mut changes,
                );
                content.lines[index] = after;
            }
            None => {
                let product_id = change.product_id.ok_or_else(|| {
                    ValidationError::invalid(
                        "productId",
                        "a new line needs a productId (or give lineId)",
                    )
                })?;
                next_line_no += 1;
                let line = new_line(
                    next_line_no,
                    &LineInput {
                        product_id,
                        quantity: change.quantity,
                        unit_price: change.unit_price,
                        discount_percent: change.discount_percent,
                    },
                    products,
                    order.currency,
                )?;
                let lead = products
                    .get(&product_id)
                    .map_or(0, |p| p.details.lead_time_days);
                lead_days = lead_days.max(Some(lead));
                changes.push(FieldChange {
                    field: format!("lines[{}]", line.line_no),
                    from: None,
                    to: Some(show_line(&line)),
                });
                content.lines.push(line);
            }
        }
    }
    if content.lines.is_empty() {
        return Err(ValidationError::invalid("lines", "a change cannot remove every line").into());
    }
    if content.lines.len() > crate::order::MAX_LINES {
        return Err(ValidationError::invalid(
            "lines",
            format!("an order has at most {} lines", crate::order::MAX_LINES),
        )
        .into());
    }
    check_total(&content.lines)?;

    let promised_before = promised_date(order);
    let mut promised = promised_before;
    if let Some(date) = proposal.promised_date
        && Some(date) != promised_before
    {
        // Before confirmation there is no promise to move, and nowhere to keep one.
        if order.confirmation.is_none() {
            return Err(ValidationError::invalid(
                "promisedDate",
                format!(
                    "order {} is not confirmed yet: nothing is promised until the customer confirms",
                    order.number
                ),
            )
            .into());
        }
        changes.push(FieldChange {
            field: "promisedDate".into(),
            from: promised_before.map(|d| d.to_string()),
            to: Some(date.to_string()),
        });
        promised = Some(date);
    }
    if let Some(address) = &proposal.delivery_address {
        let address = required_text("deliveryAddress", address, 500)?;
        if content.delivery_address.as_deref() != Some(address.as_str()) {
            changes.push(FieldChange {
                field: "deliveryAddress".into(),
                from: content.delivery_address.clone(),
                to: Some(address.clone()),
            });
            content.delivery_address = Some(address);
        }
    }
    if changes.is_empty() {
        return Err(ValidationError::invalid("change", "the change changes nothing").into());
    }

    let expected_before = order.expected_date.or(promised_before);
    let earliest = lead_days.map(|days| today + chrono::Duration::days(i64::from(days)));
    let expected_after = match (expected_before, earliest) {
        (Some(current), Some(earliest)) => Some(current.max(earliest)),
        (current, earliest) => current.or(earliest),
    };
    let mut next = order.clone();
    next.content = content.clone();
    Ok(ChangeImpact {
        content,
        promised_date: promised,
        total_before: order.total(),
        total_after: next.total(),
        expected_before,
        expected_after,
        changes,
    })
}

/// A change request as made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewChangeRequest {
    /// The order.
    pub order_id: OrderId,
    /// What is proposed.
    pub proposal: ChangeProposal,
    /// Why.
    pub reason: String,
    /// The order's revision it was computed on; applying to another revision is refused.
    pub base_revision: i32,
    /// Impact when requested: new total minus old.
    pub amount_delta: Decimal,
    /// Impact when requested: days the delivery moves.
    pub delay_days: i64,
    /// Whether review flags the new content, so only a manager may approve.
    pub review_required: bool,
    /// Who asked.
    pub requested_by: UserId,
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// A stored change request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRequest {
    /// Identity.
    pub id: i64,
    /// As requested.
    pub details: NewChangeRequest,
    /// Where it stands.
    pub status: ChangeStatus,
    /// Who approved or rejected it.
    pub decided_by: Option<UserId>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// The decider's comment.
    pub decision_comment: Option<String>,
    /// The revision it produced, once applied.
    pub applied_revision: Option<i32>,
    /// When it was applied.
    pub applied_at: Option<DateTime<Utc>>,
}

/// The content of an order before a change replaced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRevision {
    /// The order.
    pub order_id: OrderId,
    /// The revision number of this content.
    pub revision: i32,
    /// The content as it was.
    pub content: OrderContent,
    /// The promised date as it was.
    pub promised_date: Option<NaiveDate>,
    /// The total as it was.
    pub total: Decimal,
    /// When it was replaced.
    pub replaced_at: DateTime<Utc>,
    /// By which change request.
    pub replaced_by_change: i64,
}

/// Approves or rejects a proposed change. Who may do so is the caller's policy (a manager, or
/// the rep within their authority); this checks the request's state.
///
/// # Errors
/// `PreconditionFailed` unless PROPOSED; `Validation` for a rejection without a comment.
pub fn decide_change(
    order: &Order,
    request: &ChangeRequest,
    approve: bool,
    comment: Option<&str>,
    actor: UserId,
    now: DateTime<Utc>,
) -> Result<(ChangeRequest, OrderEventKind), OrderError> {
    let command = if approve {
        CommandKind::ApproveChange
    } else {
        CommandKind::RejectChange
    };
    if request.status != ChangeStatus::Proposed {
        return Err(OrderError::PreconditionFailed {
            from: order.status,
            command,
            reason: format!("change request {} is {}", request.id, request.status),
        });
    }
    let comment = if approve {
        optional_text("comment", comment, 1000)?
    } else {
        Some(required_text("comment", comment.unwrap_or(""), 1000)?)
    };
    let mut next = request.clone();
    next.status = if approve {
        ChangeStatus::Approved
    } else {
        ChangeStatus::Rejected
    };
    next.decided_by = Some(actor);
    next.decided_at = Some(now);
    next.decision_comment.clone_from(&comment);
    Ok((
        next.clone(),
        OrderEventKind::ChangeDecided {
            change_request_id: request.id,
            decision: next.status,
            comment,
        },
    ))
}

/// What applying an approved change produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedChange {
    /// The order with its new content and revision (version not yet raised).
    pub order: Order,
    /// The previous content, to keep readable.
    pub previous: OrderRevision,
    /// The request, now APPLIED.
    pub request: ChangeRequest,
    /// Events: ORDER_CHANGED, a moved expected date, a completed shipment status.
    pub events: Vec<OrderEventKind>,
}

/// Applies an approved change to the order: new content, revision + 1, the previous content
/// kept. When the order was partially shipped and the change leaves nothing to ship, it is
/// SHIPPED.
///
/// # Errors
/// `PreconditionFailed` unless APPROVED, or when the order's content moved to another revision
/// since the request (request it again); every error of [`preview_change`].
pub fn apply_change<'a>(
    order: &Order,
    basis: impl Into<ChangeBasis<'a>>,
    request: &ChangeRequest,
    products: &HashMap<ProductId, Product>,
    now: DateTime<Utc>,
) -> Result<AppliedChange, OrderError> {
    let basis = basis.into();
    let shipments = basis.shipments;
    let precondition = |reason: String| OrderError::PreconditionFailed {
        from: order.status,
        command: CommandKind::ChangeOrder,
        reason,
    };
    if request.status != ChangeStatus::Approved {
        return Err(precondition(format!(
            "change request {} is {}, not APPROVED",
            request.id, request.status
        )));
    }
    if request.details.base_revision != order.revision {
        return Err(precondition(format!(
            "the order moved from revision {} to {} since change request {} was made; request it again",
            request.details.base_revision, order.revision, request.id
        )));
    }
    let impact = preview_change(
        order,
        basis.clone(),
        &request.details.proposal,
        products,
        now.date_naive(),
    )?;
    let mut next = order.clone();
    next.content = impact.content.clone();
    next.revision = order.revision + 1;
    if let Some(confirmation) = &mut next.confirmation {
        confirmation.promised_date = impact.promised_date;
    }
    let mut events = vec![OrderEventKind::OrderChanged {
        change_request_id: request.id,
        revision: next.revision,
        changes: impact.changes.clone(),
    }];
    if let Some(expected) = impact.expected_after
        && impact.expected_before != impact.expected_after
    {
        move_expected_date(
            &mut next,
            expected,
            &format!("change request {}", request.id),
            &mut events,
        );
    }
    if next.status == OrderStatus::PartiallyShipped
        && fully_shipped(&next, &shipped_quantities(shipments))
    {
        next.status = OrderStatus::Shipped;
        events.push(OrderEventKind::StatusChanged {
            from: OrderStatus::PartiallyShipped,
            to: OrderStatus::Shipped,
            reason: Some(format!(
                "change request {} left nothing to ship",
                request.id
            )),
        });
    }
    let mut applied = request.clone();
    applied.status = ChangeStatus::Applied;
    applied.applied_revision = Some(next.revision);
    applied.applied_at = Some(now);
    Ok(AppliedChange {
        previous: OrderRevision {
            order_id: order.id,
            revision: order.revision,
            content: order.content.clone(),
            promised_date: promised_date(order),
            total: order.total(),
            replaced_at: now,
            replaced_by_change: request.id,
        },
        order: next,
        request: applied,
        events,
    })
}
