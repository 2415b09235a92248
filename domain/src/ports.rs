//! Ports: what the domain needs from storage. `persistence` implements them; the contracts
//! ("MUST ...") below are what every implementation is tested against.

use std::future::Future;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::archive::{Interaction, NewInteraction, NoteVisibility, OrderNote};
use crate::catalog::{Customer, CustomerProfile, CustomerSummary, Product, ProductDetails};
use crate::event::{OrderEventKind, StoredEvent};
use crate::ids::{CustomerId, OrderId, ProductId, UserId};
use crate::lifecycle::OrderStatus;
use crate::money::Currency;
use crate::order::{NewOrder, Order, OrderSummary};
use crate::settlement::{
    CollectionActivity, Invoice, NewCollectionActivity, NewInvoice, NewPayment, Payment,
};
use crate::tracking::{
    ChangeRequest, ExceptionKind, ExceptionStatus, Milestone, NewChangeRequest, NewException,
    NewMilestone, NewShipment, OrderException, OrderRevision, Severity, Shipment,
};
use crate::user::{Email, NewUser, Scope, User};

/// Why a repository call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    /// The record does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// What kind of record.
        entity: &'static str,
        /// Its id.
        id: i64,
    },
    /// The expected version is stale: someone else changed the record first.
    #[error("version conflict: expected {expected}, current is {actual}")]
    Conflict {
        /// The version the caller based its change on.
        expected: i64,
        /// The version stored now.
        actual: i64,
    },
    /// A unique field already holds this value.
    #[error("{field} `{value}` is already taken")]
    Duplicate {
        /// The field.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// The idempotency key was used before with a different request.
    #[error("idempotency key `{0}` was already used with a different request")]
    IdempotencyMismatch(String),
    /// The database failed; the message is for logs, not for clients.
    #[error("storage error: {0}")]
    Storage(String),
}

/// Keyset pagination request: at most `first` items after the item with key `after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items (the API caps it at 100).
    pub first: u32,
    /// Key of the last item already seen.
    pub after: Option<i64>,
}

/// One page of a list, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Whether more items follow.
    pub has_next: bool,
}

impl<T> Page<T> {
    /// A page with nothing on it, and nothing after it.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            has_next: false,
        }
    }
}

/// Filters of the order list. All present filters must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Any of these statuses.
    pub statuses: Vec<OrderStatus>,
    /// Of this customer.
    pub customer_id: Option<CustomerId>,
    /// Of this rep.
    pub sales_rep_id: Option<UserId>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// Case-insensitive match on the order number or customer PO reference.
    pub search: Option<String>,
}

/// Filters of the customer list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    /// Case-insensitive match on the company name, a tag, the main e-mail, or a contact's name,
    /// e-mail, phone or WeChat id.
    pub search: Option<String>,
    /// Owned by this rep.
    pub owner_rep_id: Option<UserId>,
}

/// Filters of the product list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductFilter {
    /// Case-insensitive match on SKU or name.
    pub search: Option<String>,
    /// Only active (true) or inactive (false) products.
    pub active: Option<bool>,
}

/// A claim on an idempotency key for one create request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// Keys are scoped per user.
    pub user_id: UserId,
    /// The client's key (at most 255 characters).
    pub key: String,
    /// A fingerprint of the request, to tell a retry from a reuse.
    pub fingerprint: String,
}

/// An order with the sales rep and the customer it belongs to, read together: what a request
/// for one order needs to check who may see it and to answer for its parties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderWithParties {
    /// The order, lines included.
    pub order: Order,
    /// Its sales rep.
    pub sales_rep: User,
    /// Its customer.
    pub customer: Customer,
}

/// Result of creating an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    /// The order as stored.
    pub order: Order,
    /// Events stored with it (empty on a replay).
    pub events: Vec<StoredEvent>,
    /// True when the idempotency key had been used with the same request: nothing was written.
    pub replayed: bool,
}

/// An accepted command, ready to be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderChange<'a> {
    /// The order after the command (its `version` is the new version).
    pub order: &'a Order,
    /// The version the command was decided on.
    pub expected_version: i64,
    /// Whether lines must be rewritten.
    pub lines_changed: bool,
    /// Events to append.
    pub events: Vec<OrderEventKind>,
    /// Who.
    pub actor_id: UserId,
    /// When.
    pub at: DateTime<Utc>,
}

/// Users.
pub trait UserRepository: Send + Sync {
    /// Stores a new user. MUST return `Duplicate { field: "email" }` for a taken e-mail.
    fn create_user(&self, user: NewUser) -> impl Future<Output = Result<User, RepoError>> + Send;
    /// Finds a user by e-mail.
    fn user_by_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = Result<Option<User>, RepoError>> + Send;
    /// Batch lookup; missing ids are simply absent from the result.
    fn users_by_ids(
        &self,
        ids: &[UserId],
    ) -> impl Future<Output = Result<Vec<User>, RepoError>> + Send;
}

/// Customers.
pub trait CustomerRepository: Send + Sync {
    /// Stores a new customer.
    fn create_customer(
        &self,
        profile: CustomerProfile,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Customer, RepoError>> + Send;
    /// Replaces a customer's profile. MUST return `Conflict` when `expected_version` is stale and
    /// `NotFound` when the customer does not exist; nothing is written then.
    fn update_customer(
        &self,
        id: CustomerId,
        expected_version: i64,
        profile: CustomerProfile,
    ) -> impl Future<Output = Result<Customer, RepoError>> + Send;
    /// Batch lookup.
    fn customers_by_ids(
        &self,
        ids: &[CustomerId],
    ) -> impl Future<Output = Result<Vec<Customer>, RepoError>> + Send;
    /// Batch lookup of [`CustomerSummary`]s: the customers without their contacts, addresses
    /// and preferences, for lists that show none of them.
    fn customer_summaries_by_ids(
        &self,
        ids: &[CustomerId],
    ) -> impl Future<Output = Result<Vec<CustomerSummary>, RepoError>> + Send;
    /// Lists customers visible in `scope`, newest first. MUST apply scope and filter in the query.
    fn list_customers(
        &self,
        scope: Scope,
        filter: &CustomerFilter,
        page: PageRequest,
    ) -> impl Future<Output = Result<Page<Customer>, RepoError>> + Send;
}

/// Products.
pub trait ProductRepository: Send + Sync {
    /// Stores a new product. MUST return `Duplicate { field: "sku" }` for a taken SKU.
    fn create_product(
        &self,
        details: ProductDetails,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Product, RepoError>> + Send;
    /// Replaces a product. MUST return `Conflict` for a stale version, `Duplicate` for a taken SKU.
    fn update_product(
        &self,
        id: ProductId,
        expected_version: i64,
        details: ProductDetails,
    ) -> impl Future<Output = Result<Product, RepoError>> + Send;
    /// Batch lookup.
    fn products_by_ids(
        &self,
        ids: &[ProductId],
    ) -> impl Future<Output = Result<Vec<Product>, RepoError>> + Send;
    /// Lists products, newest first.
    fn list_products(
        &self,
        filter: &ProductFilter,
        page: PageRequest,
    ) -> impl Future<Output = Result<Page<Product>, RepoError>> + Send;
}

/// Orders and their event log.
pub trait OrderRepository: Send + Sync {
    /// Stores a new draft, numbers it, and stores [`creation_events`](crate::order::creation_events) in the same transaction.
    ///
    /// With a claim: when the key was used before by the same user with the same fingerprint,
    /// MUST return the first result with `replayed = true` and write nothing; with another
    /// fingerprint MUST return `IdempotencyMismatch`. Concurrent requests with one key MUST
    /// produce exactly one order.
    fn create_order(
        &self,
        order: NewOrder,
        actor_id: UserId,
        claim: Option<IdempotencyClaim>,
    ) -> impl Future<Output = Result<Created, RepoError>> + Send;
    /// Stores an accepted command: the order row (and lines if changed) plus its events, in one
    /// transaction. MUST return `Conflict` and write nothing when the stored version is not
    /// `expected_version`. Events get consecutive sequence numbers in commit order.
    fn save_order(
        &self,
        change: OrderChange<'_>,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, RepoError>> + Send;
    /// One order with its sales rep and customer; `None` when there is no such order. Stores
    /// SHOULD read them in one statement (the hottest read of the API).
    fn order_with_parties(
        &self,
        id: OrderId,
    ) -> impl Future<Output = Result<Option<OrderWithParties>, RepoError>> + Send;
    /// Batch lookup, lines included.
    fn orders_by_ids(
        &self,
        ids: &[OrderId],
    ) -> impl Future<Output = Result<Vec<Order>, RepoError>> + Send;
    /// Lists orders visible in `scope`, newest first, lines included, in a constant number of
    /// statements. MUST apply scope and filter in the query.
    fn list_orders(
        &self,
        scope: Scope,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> impl Future<Output = Result<Page<Order>, RepoError>> + Send;
    /// Lists orders as [`list_orders`](Self::list_orders) does (same scope, filter, order and
    /// pages), without their lines and details ([`OrderSummary`]): each summary carries the
    /// order's stored total instead. For lists that show neither.
    fn list_order_summaries(
        &self,
        scope: Scope,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> impl Future<Output = Result<Page<OrderSummary>, RepoError>> + Send;
    /// The events of one order, oldest first.
    fn order_events(
        &self,
        id: OrderId,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, RepoError>> + Send;
    /// What the customer owes and has committed to, in `currency`, for the credit-limit rule.
    ///
    /// `unbilled_confirmed` MUST sum, over the customer's orders in `currency` that are
    /// confirmed or later (ON_HOLD included), neither cancelled nor completed, `exclude` left
    /// out, what is not yet invoiced (total minus valid invoices). `open_receivables` MUST sum
    /// the open balances of the customer's valid invoices in `currency`.
    fn credit_exposure(
        &self,
        customer_id: CustomerId,
        currency: Currency,
        exclude: OrderId,
    ) -> impl Future<Output = Result<CreditExposure, RepoError>> + Send;
    /// Numbers of the customer's non-cancelled orders, `exclude` left out, whose customer PO
    /// reference equals `customer_po` ignoring case. At most 10, oldest first.
    fn orders_with_customer_po(
        &self,
        customer_id: CustomerId,
        customer_po: &str,
        exclude: OrderId,
    ) -> impl Future<Output = Result<Vec<String>, RepoError>> + Send;
}

/// A customer's money at stake, for the credit-limit rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreditExposure {
    /// Invoiced and not yet paid.
    pub open_receivables: Decimal,
    /// Confirmed (or later), not yet invoiced, not cancelled or completed.
    pub unbilled_confirmed: Decimal,
}

/// A refresh token about to be stored: only a hash of the secret is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRefreshToken {
    /// Hash of the token's secret (the secret itself is never stored).
    pub hash: String,
    /// Whose session it is.
    pub user_id: UserId,
    /// The session it belongs to: every rotation stays in the family of the first sign-in.
    pub family: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}

/// What presenting a refresh token led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was valid: it is spent and its successor stored.
    Rotated {
        /// Whose session it is.
        user_id: UserId,
    },
    /// The token was already spent or revoked: someone replayed it, so the whole session is revoked.
    Reused,
    /// The token was revoked (sign-out, a replay, or superseded by a retry): it is dead, and
    /// presenting it changes nothing.
    Revoked,
    /// The token is past its expiry.
    Expired,
    /// No such token.
    Unknown,
}

/// Sign-in sessions (refresh tokens), rotated on every use.
pub trait SessionRepository: Send + Sync {
    /// Stores the first refresh token of a new session.
    fn store_refresh_token(
        &self,
        token: NewRefreshToken,
    ) -> impl Future<Output = Result<(), RepoError>> + Send;
    /// Spends the token with hash `old` and stores `new` in its family, atomically.
    ///
    /// A token spent less than `grace` ago is a client retrying after a lost answer: the
    /// successor it never received MUST be revoked and `new` stored instead. A token spent
    /// longer ago MUST revoke its whole family and return `Reused`; a revoked token is `Revoked`.
    fn rotate_refresh_token(
        &self,
        old: &str,
        new: NewRefreshToken,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> impl Future<Output = Result<Rotation, RepoError>> + Send;
    /// Revokes the session the token with hash `hash` belongs to (sign-out). Returns whether such a token existed.
    fn revoke_session(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;
}

/// Which interactions to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InteractionFilter {
    /// All of one customer's.
    Customer(CustomerId),
    /// Those about one order.
    Order(OrderId),
}

/// The customer archive: notes on orders, the interaction log, and what purchase history and
/// follow-ups are derived from.
pub trait ArchiveRepository: Send + Sync {
    /// Stores a note on an order.
    fn add_order_note(
        &self,
        order_id: OrderId,
        author_id: UserId,
        visibility: NoteVisibility,
        body: String,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<OrderNote, RepoError>> + Send;
    /// Notes of these orders, oldest first. Without `include_internal`, INTERNAL notes MUST
    /// be filtered out in the query itself.
    fn order_notes(
        &self,
        order_ids: &[OrderId],
        include_internal: bool,
    ) -> impl Future<Output = Result<Vec<OrderNote>, RepoError>> + Send;
    /// Stores an interaction.
    fn log_interaction(
        &self,
        interaction: NewInteraction,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Interaction, RepoError>> + Send;
    /// One interaction.
    fn interaction(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<Interaction>, RepoError>> + Send;
    /// Marks an interaction's follow-up done (idempotent: the first time is kept).
    /// MUST return `NotFound` for an unknown id.
    fn complete_follow_up(
        &self,
        id: i64,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Interaction, RepoError>> + Send;
    /// Interactions, newest first.
    fn interactions(
        &self,
        filter: InteractionFilter,
        page: PageRequest,
    ) -> impl Future<Output = Result<Page<Interaction>, RepoError>> + Send;
    /// Interactions logged by `user_id` whose follow-up is due on or before `due_by` and not
    /// done, earliest first, at most 100.
    fn open_follow_ups(
        &self,
        user_id: UserId,
        due_by: NaiveDate,
    ) -> impl Future<Output = Result<Vec<Interaction>, RepoError>> + Send;
    /// When each of these customers was last contacted (latest `occurred_at`); customers never
    /// contacted are absent.
    fn last_contacts(
        &self,
        customer_ids: &[CustomerId],
    ) -> impl Future<Output = Result<HashMap<CustomerId, DateTime<Utc>>, RepoError>> + Send;
    /// The orders a customer committed to: confirmed or later and not cancelled, lines included.
    fn committed_orders(
        &self,
        customer_id: CustomerId,
    ) -> impl Future<Output = Result<Vec<Order>, RepoError>> + Send;
    /// A rep's active orders (APPROVED to SHIPPED, and ON_HOLD), oldest first, at most 500.
    fn active_orders_of_rep(
        &self,
        rep_id: UserId,
    ) -> impl Future<Output = Result<Vec<Order>, RepoError>> + Send;
}

/// A settlement change decided on an order, stored in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementChange<'a> {
    /// The order after the change (payment status, maybe status; `version` is the new version).
    pub order: &'a Order,
    /// The order version the change was decided on.
    pub expected_version: i64,
    /// An invoice to store (numbered by storage).
    pub new_invoice: Option<NewInvoice>,
    /// An existing invoice's new state (paid amount, fully-paid date, void reason).
    pub invoice_update: Option<Invoice>,
    /// A payment to store, on the invoice of `invoice_update` (which it pays).
    pub payment: Option<NewPayment>,
    /// The idempotency claim of the request (payments).
    pub claim: Option<IdempotencyClaim>,
    /// Events to append; storage fills the ids it assigns into `InvoiceIssued.invoice_id`/`number`
    /// and `PaymentRecorded.payment_id`.
    pub events: Vec<OrderEventKind>,
    /// Who.
    pub actor_id: UserId,
    /// When.
    pub at: DateTime<Utc>,
}

/// What a stored settlement change produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementSaved {
    /// The new invoice, as stored.
    pub invoice: Option<Invoice>,
    /// The new payment, as stored (or the first one, on a replay).
    pub payment: Option<Payment>,
    /// Events stored (empty on a replay).
    pub events: Vec<StoredEvent>,
    /// True when the idempotency key had been used with the same request: nothing was written.
    pub replayed: bool,
}

/// Filters of the receivables list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceivableFilter {
    /// Of this customer.
    pub customer_id: Option<CustomerId>,
    /// Of this rep.
    pub sales_rep_id: Option<UserId>,
    /// Only invoices past their due date as of this day.
    pub overdue_as_of: Option<NaiveDate>,
}

/// Invoices and payments.
pub trait SettlementRepository: Send + Sync {
    /// Stores a settlement change. MUST return `Conflict` and write nothing when the order's
    /// stored version is not `expected_version`. With a claim: a key used before by the same
    /// user with the same fingerprint MUST return the first payment with `replayed = true` and
    /// write nothing; another fingerprint MUST be `IdempotencyMismatch`; concurrent requests
    /// with one key MUST store exactly one payment.
    fn save_settlement(
        &self,
        change: SettlementChange<'_>,
    ) -> impl Future<Output = Result<SettlementSaved, RepoError>> + Send;
    /// The payment an idempotency claim already produced, if any (`IdempotencyMismatch` when
    /// the key was used for another request).
    fn replayed_payment(
        &self,
        claim: &IdempotencyClaim,
    ) -> impl Future<Output = Result<Option<Payment>, RepoError>> + Send;
    /// An order's invoices, oldest first.
    fn invoices_of_order(
        &self,
        order_id: OrderId,
    ) -> impl Future<Output = Result<Vec<Invoice>, RepoError>> + Send;
    /// Batch lookup.
    fn invoices_by_ids(
        &self,
        ids: &[i64],
    ) -> impl Future<Output = Result<Vec<Invoice>, RepoError>> + Send;
    /// An invoice's payments, oldest first.
    fn payments_of_invoice(
        &self,
        invoice_id: i64,
    ) -> impl Future<Output = Result<Vec<Payment>, RepoError>> + Send;
    /// The payments of several invoices in one query, oldest first (lists must not read
    /// payments invoice by invoice).
    fn payments_of_invoices(
        &self,
        invoice_ids: &[i64],
    ) -> impl Future<Output = Result<Vec<Payment>, RepoError>> + Send;
    /// Valid invoices with an open balance in `scope`, newest first. MUST apply scope and
    /// filter in the query.
    fn open_invoices(
        &self,
        scope: Scope,
        filter: &ReceivableFilter,
        page: PageRequest,
    ) -> impl Future<Output = Result<Page<Invoice>, RepoError>> + Send;
    /// Every valid invoice with an open balance in `scope` (for the aging report), at most
    /// `limit`, oldest due first.
    fn all_open_invoices(
        &self,
        scope: Scope,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<Invoice>, RepoError>> + Send;
    /// Stores a collection activity with its COLLECTION_LOGGED event (at the order's current
    /// version: logging does not change the order). Storage fills `activity_id` into the event.
    fn log_collection(
        &self,
        activity: NewCollectionActivity,
        order: &Order,
        event: OrderEventKind,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(CollectionActivity, Vec<StoredEvent>), RepoError>> + Send;
    /// Collection activities of these invoices, oldest first.
    fn collection_activities(
        &self,
        invoice_ids: &[i64],
    ) -> impl Future<Output = Result<Vec<CollectionActivity>, RepoError>> + Send;
    /// A customer's fully paid invoices (for payment behaviour), newest first, at most 500.
    fn settled_invoices(
        &self,
        customer_id: CustomerId,
    ) -> impl Future<Output = Result<Vec<Invoice>, RepoError>> + Send;
}

/// The global event log, read in sequence order.
pub trait EventLog: Send + Sync {
    /// Up to `limit` events with `seq > after`, in sequence order. MUST never skip an event that
    /// commits later with a lower sequence number (sequence numbers are assigned in commit order).
    fn events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, RepoError>> + Send;
    /// The highest sequence number stored (0 when empty).
    fn last_seq(&self) -> impl Future<Output = Result<i64, RepoError>> + Send;
}

/// One record a tracking command writes besides the order row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackingRecord {
    /// A new milestone.
    NewMilestone(NewMilestone),
    /// A new shipment.
    NewShipment(NewShipment),
    /// A shipment arrived.
    ShipmentDelivered {
        /// The shipment.
        shipment_id: i64,
        /// When.
        delivered_at: DateTime<Utc>,
    },
    /// A new exception.
    NewException(NewException),
    /// An exception's analysis or resolution (every field after `details` is rewritten).
    UpdatedException(OrderException),
    /// A new change request.
    NewChangeRequest(NewChangeRequest),
    /// A change request decided or applied (status, decision and application fields rewritten).
    UpdatedChangeRequest(ChangeRequest),
    /// The content a change replaced.
    Revision(OrderRevision),
}

/// A tracking command decided on an order, stored in one transaction with the order row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackingChange<'a> {
    /// The order after the command (its `version` is the new version).
    pub order: &'a Order,
    /// The version the command was decided on.
    pub expected_version: i64,
    /// Whether the order's lines must be rewritten (an applied change).
    pub lines_changed: bool,
    /// Records to write, in order.
    pub records: Vec<TrackingRecord>,
    /// Events to append. An event announcing a new record carries id 0; storage fills in the
    /// id it assigned (`OrderEventKind::assign_record_id`).
    pub events: Vec<OrderEventKind>,
    /// Who.
    pub actor_id: UserId,
    /// When.
    pub at: DateTime<Utc>,
}

/// What a stored tracking change produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackingSaved {
    /// The id assigned to the new record (milestone, shipment, exception or change request), if
    /// the change created one.
    pub new_id: Option<i64>,
    /// The events as stored.
    pub events: Vec<StoredEvent>,
}

/// Filters of the exception list. All present filters must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExceptionFilter {
    /// OPEN or RESOLVED.
    pub status: Option<ExceptionStatus>,
    /// Of this kind.
    pub kind: Option<ExceptionKind>,
    /// Of this severity.
    pub severity: Option<Severity>,
    /// On orders of this customer.
    pub customer_id: Option<CustomerId>,
    /// On this order.
    pub order_id: Option<OrderId>,
    /// Raised at or after.
    pub from: Option<DateTime<Utc>>,
    /// Raised before.
    pub to: Option<DateTime<Utc>>,
}

/// Milestones, shipments, exceptions and change requests.
pub trait TrackingRepository: Send + Sync {
    /// Stores a tracking change. MUST update the order row only if its version is still
    /// `expected_version` (else `Conflict`, nothing written), write the records and append the
    /// events in the same transaction, and rewrite lines when `lines_changed`.
    fn save_tracking(
        &self,
        change: TrackingChange<'_>,
    ) -> impl Future<Output = Result<TrackingSaved, RepoError>> + Send;
    /// The order's milestones, in the order they happened (then by id).
    fn milestones_of_order(
        &self,
        order_id: OrderId,
    ) -> impl Future<Output = Result<Vec<Milestone>, RepoError>> + Send;
    /// The order's shipments, oldest first.
    fn shipments_of_order(
        &self,
        order_id: OrderId,
    ) -> impl Future<Output = Result<Vec<Shipment>, RepoError>> + Send;
    /// One shipment.
    fn shipment(&self, id: i64)
    -> impl Future<Output = Result<Option<Shipment>, RepoError>> + Send;
    /// One exception.
    fn exception(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<OrderException>, RepoError>> + Send;
    /// Exceptions visible in `scope`, newest first (keyset on id). MUST filter in the query.
    fn list_exceptions(
        &self,
        scope: Scope,
        filter: &ExceptionFilter,
        page: PageRequest,
    ) -> impl Future<Output = Result<Page<OrderException>, RepoError>> + Send;
    /// One change request.
    fn change_request(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<ChangeRequest>, RepoError>> + Send;
    /// The order's change requests, oldest first.
    fn change_requests_of_order(
        &self,
        order_id: OrderId,
    ) -> impl Future<Output = Result<Vec<ChangeRequest>, RepoError>> + Send;
    /// The order's previous revisions, oldest first.
    fn revisions_of_order(
        &self,
        order_id: OrderId,
    ) -> impl Future<Output = Result<Vec<OrderRevision>, RepoError>> + Send;
    /// Orders visible in `scope` that are at risk on `today` (see `tracking::is_at_risk`): in
    /// CONFIRMED .. SHIPPED or ON_HOLD, with a promised date that is before `today` or before
    /// the expected date. Ordered by promised date, then id; keyset on id is not meaningful
    /// here, so `page.after` is an offset.
    fn orders_at_risk(
        &self,
        scope: Scope,
        today: NaiveDate,
        page: PageRequest,
    ) -> impl Future<Output = Result<Page<Order>, RepoError>> + Send;
}

/// What an analytics query covers: a half-open period `[from, to)` and optional narrowing. The
/// repository MUST apply it, together with the caller's [`Scope`], in the query itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AnalyticsFilter {
    /// Start of the period (inclusive).
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    /// Only this rep's orders.
    pub sales_rep_id: Option<UserId>,
    /// Only the orders of this manager's team: the manager's own and their reps'.
    pub team_of: Option<UserId>,
    /// Only this customer's orders.
    pub customer_id: Option<CustomerId>,
    /// Only orders with at least one line of this product.
    pub product_id: Option<ProductId>,
    /// Only orders in this currency.
    pub currency: Option<Currency>,
}

impl AnalyticsFilter {
    /// The period's first and last UTC day, for date columns and for aging: `[from, to)`
    /// covers a day when it covers any instant of it. An empty period gives a last day before
    /// the first, which no date is between.
    #[must_use]
    pub fn days(&self) -> (NaiveDate, NaiveDate) {
        let last = (self.to - chrono::Duration::microseconds(1)).date_naive();
        (self.from.date_naive(), last)
    }

    /// How many UTC days [`days`](Self::days) spans (0 for an empty period): the time base of
    /// days sales outstanding.
    #[must_use]
    pub fn day_count(&self) -> u64 {
        let (first, last) = self.days();
        u64::try_from((last - first).num_days() + 1).unwrap_or(0)
    }
}

/// Submitted orders created on one UTC day in one currency and status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailySales {
    /// The UTC day of `created_at`.
    pub day: NaiveDate,
    /// The orders' currency.
    pub currency: Currency,
    /// Their status now.
    pub status: OrderStatus,
    /// How many.
    pub orders: u64,
    /// The sum of their totals.
    pub value: Decimal,
}

/// One entry of a top list (customers or products) in one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ranked<K> {
    /// The customer or product.
    pub key: K,
    /// The currency of `value`.
    pub currency: Currency,
    /// How many orders.
    pub orders: u64,
    /// Order value (customers) or line value (products).
    pub value: Decimal,
}

/// When an order first reached each lifecycle milestone (none until it does). Set once, in the
/// transaction that stores the event, and never moved: a resubmission, or a resume into
/// CONFIRMED, leaves the first instant in place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderMilestones {
    /// The first `REVIEW_COMPLETED` (the order was submitted).
    pub submitted_at: Option<DateTime<Utc>>,
    /// The first `STATUS_CHANGED` to CONFIRMED.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The first `STATUS_CHANGED` to SHIPPED (everything shipped).
    pub shipped_at: Option<DateTime<Utc>>,
    /// The first `STATUS_CHANGED` to DELIVERED.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The first `PAYMENT_STATUS_CHANGED` to PAID.
    pub paid_at: Option<DateTime<Utc>>,
}

/// Open orders in one status and currency, as they stand now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOrders {
    /// The status.
    pub status: OrderStatus,
    /// The currency of `value`.
    pub currency: Currency,
    /// How many orders.
    pub orders: u64,
    /// The sum of their totals.
    pub value: Decimal,
}

/// How many orders submitted in a period were confirmed by the customer since.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConversionCounts {
    /// Orders first submitted in the period.
    pub submitted: u64,
    /// Those of them confirmed at some point (whatever their status now).
    pub confirmed: u64,
}

/// A lifecycle stage whose duration the cycle-time KPI measures: from one milestone to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// First submitted to first confirmed.
    SubmittedToConfirmed,
    /// First confirmed to first fully shipped.
    ConfirmedToShipped,
    /// First fully shipped to first delivered.
    ShippedToDelivered,
    /// First delivered to first fully paid.
    DeliveredToPaid,
}

impl Stage {
    /// Every stage, in lifecycle order.
    pub const ALL: [Stage; 4] = [
        Stage::SubmittedToConfirmed,
        Stage::ConfirmedToShipped,
        Stage::ShippedToDelivered,
        Stage::DeliveredToPaid,
    ];
}

/// One sales rep's deliveries in a period against the dates promised to the customers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// The orders' sales rep.
    pub sales_rep_id: UserId,
    /// Orders delivered (first `delivered_at` in the period) that carry a promised date.
    pub delivered: u64,
    /// Those whose UTC day of delivery is on or before the promised date.
    pub on_time: u64,
}

/// Exceptions of one kind, root cause and currency raised in a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExceptionGroup {
    /// What went wrong.
    pub kind: ExceptionKind,
    /// The analysed root cause, exactly as written; `None` while unanalysed.
    pub root_cause: Option<String>,
    /// The currency of `cost_impact` (the order's).
    pub currency: Currency,
    /// How many exceptions.
    pub exceptions: u64,
    /// The sum of their estimated cost impacts.
    pub cost_impact: Decimal,
    /// The sum of their estimated delays, in days.
    pub delay_days: u64,
}

/// What a resolved exception taught, with the group it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lesson {
    /// What went wrong.
    pub kind: ExceptionKind,
    /// The analysed root cause; `None` while unanalysed.
    pub root_cause: Option<String>,
    /// What to do differently next time.
    pub lessons_learned: String,
}

/// A count and an amount of one sales rep in one currency: orders and their value, invoices
/// and their amount, or payments and their sum, depending on the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RepAmount {
    /// The rep (the order's, or the invoice's when it was issued).
    pub sales_rep_id: UserId,
    /// The currency of `amount`.
    pub currency: Currency,
    /// How many orders, invoices or payments.
    pub count: u64,
    /// Their sum.
    pub amount: Decimal,
}

/// Money still owed at the end of a period on the invoices of one rep and currency in one
/// aging bucket (aged to the period's last day).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenReceivable {
    /// The invoices' rep.
    pub sales_rep_id: UserId,
    /// The currency of `outstanding`.
    pub currency: Currency,
    /// How far past due the invoices were on the period's last day.
    pub bucket: crate::receivables::AgingBucket,
    /// How many invoices had money owed.
    pub invoices: u64,
    /// What was still owed on them.
    pub outstanding: Decimal,
}

/// How promptly one customer paid the invoices of one rep that became fully paid in a period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettlementRecord {
    /// The invoices' rep.
    pub sales_rep_id: UserId,
    /// Who paid.
    pub customer_id: CustomerId,
    /// How many invoices became fully paid.
    pub invoices: u64,
    /// Those paid on or before their due date.
    pub on_time: u64,
    /// Days late summed over the late ones (an early payment counts 0, not a credit).
    pub days_late: u64,
}

/// The invoices of one rep falling due in a period, and how many were fully paid by its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueInvoices {
    /// The invoices' rep.
    pub sales_rep_id: UserId,
    /// Valid invoices due in the period.
    pub due: u64,
    /// Those fully paid before the period ended.
    pub collected: u64,
}

/// How many of one rep's orders saw change requests and exceptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QualityCounts {
    /// The orders' rep.
    pub sales_rep_id: UserId,
    /// Submitted orders created in the period.
    pub orders: u64,
    /// Those with at least one change request (at any time since).
    pub orders_with_change_requests: u64,
    /// Change requests on them.
    pub change_requests: u64,
    /// Those with at least one exception (at any time since).
    pub orders_with_exceptions: u64,
    /// Exceptions on them.
    pub exceptions: u64,
}

/// One customer's submitted orders in one currency over a period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CustomerActivity {
    /// The customer.
    pub customer_id: CustomerId,
    /// The currency of `value`.
    pub currency: Currency,
    /// How many orders.
    pub orders: u64,
    /// The sum of their totals.
    pub value: Decimal,
    /// When the first of them was created.
    pub first_order_at: DateTime<Utc>,
    /// When the last of them was created.
    pub last_order_at: DateTime<Utc>,
}

/// Aggregates for the KPIs: rows grouped in SQL, never whole orders.
///
/// Every method counts only submitted orders (`submitted_at` set: review has run at least once)
/// unless it says otherwise, of the caller's `scope`, matching the filter; the period applies to
/// `created_at` unless the method names another instant.
pub trait AnalyticsRepository: Send + Sync {
    /// Batch lookup of orders' milestones (any order, scope is the caller's concern); missing
    /// ids are absent from the result.
    fn order_milestones(
        &self,
        ids: &[OrderId],
    ) -> impl Future<Output = Result<Vec<(OrderId, OrderMilestones)>, RepoError>> + Send;
    /// Order count and value per UTC day of creation, currency and current status.
    fn daily_sales(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<Vec<DailySales>, RepoError>> + Send;
    /// Open orders (DRAFT through SHIPPED, and ON_HOLD) by status and currency, as they stand
    /// now. The period does not apply here and drafts count (they are the pipeline's first
    /// stage); scope and the other filters do.
    fn open_orders(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<Vec<OpenOrders>, RepoError>> + Send;
    /// Orders whose `submitted_at` is in the period, and how many of them have a `confirmed_at`.
    fn conversion(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<ConversionCounts, RepoError>> + Send;
    /// The current review findings of each order whose `submitted_at` is in the period that
    /// has any (one list per order; orders that passed review clean are left out).
    fn review_findings(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<Vec<Vec<crate::review::Finding>>, RepoError>> + Send;
    /// The duration of `stage` for each order whose stage ended in the period (its later
    /// milestone in `[from, to)`, the earlier one set), in microseconds, in no particular order.
    fn stage_durations(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
        stage: Stage,
    ) -> impl Future<Output = Result<Vec<i64>, RepoError>> + Send;
    /// Orders whose `delivered_at` is in the period and that carry a promised date, and how
    /// many of them arrived on time (UTC day of delivery on or before the promised date), per
    /// rep. Compared in SQL: a month of deliveries is one row per rep, not one per order.
    fn deliveries(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<Vec<DeliveryCounts>, RepoError>> + Send;
    /// Exceptions raised in the period (`raised_at`), whatever their order's status, grouped by
    /// kind, root cause and currency. Scope and the rep, team, customer and currency filters
    /// apply to the exception's own columns (the order's owners when it was raised); the product
    /// filter to its order's lines.
    fn exception_groups(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<Vec<ExceptionGroup>, RepoError>> + Send;
    /// The lessons learned of the RESOLVED exceptions among those of
    /// [`exception_groups`](Self::exception_groups) that recorded one, most recently resolved
    /// first.
    fn exception_lessons(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<Vec<Lesson>, RepoError>> + Send;
    /// The `limit` customers with the largest order value, per currency: value descending, then
    /// customer id ascending.
    fn top_customers(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Ranked<CustomerId>>, RepoError>> + Send;
    /// The `limit` products with the largest line value (line totals after discount), per
    /// currency: value descending, then product id ascending. `orders` counts the orders with
    /// a line of the product.
    fn top_products(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Ranked<ProductId>>, RepoError>> + Send;
    /// Submitted orders created in the period and their value, per rep and currency.
    fn sales_by_rep(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<Vec<RepAmount>, RepoError>> + Send;
    /// Change requests and exceptions on the submitted orders created in the period, per rep.
    fn quality_counts(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<Vec<QualityCounts>, RepoError>> + Send;
    /// Valid (not voided) invoices issued in the period (by UTC day) and their amounts, per rep
    /// and currency. Invoices carry their own rep, customer and currency, which scope and
    /// filters apply to; the product filter to their order's lines. Invoices count whatever
    /// their order's status: billing is not limited to submitted orders by this API.
    fn invoiced(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<Vec<RepAmount>, RepoError>> + Send;
    /// Payments received in the period on the invoices [`invoiced`](Self::invoiced) would
    /// cover (any issue date), per rep and currency.
    fn collected(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<Vec<RepAmount>, RepoError>> + Send;
    /// What was still owed at the end of the period (`to`): valid invoices issued before it
    /// less the payments received before it, per rep, currency and aging bucket as of the
    /// period's last UTC day (see [`crate::receivables::bucket_of`]); ordered by rep, currency
    /// and bucket. Invoices with nothing owed are left out.
    fn open_receivables(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<Vec<OpenReceivable>, RepoError>> + Send;
    /// Valid invoices that became fully paid in the period (by UTC day), per rep and customer.
    fn settlements(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<Vec<SettlementRecord>, RepoError>> + Send;
    /// Valid invoices falling due in the period (by UTC day), per rep, and how many were fully
    /// paid before it ended.
    fn due_invoices(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<Vec<DueInvoices>, RepoError>> + Send;
    /// Submitted orders created in the period per customer and currency, with the first and
    /// last order's creation.
    fn customer_activity(
        &self,
        scope: Scope,
        filter: &AnalyticsFilter,
    ) -> impl Future<Output = Result<Vec<CustomerActivity>, RepoError>> + Send;
}
