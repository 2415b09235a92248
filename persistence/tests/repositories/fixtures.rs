//! Test data built from domain types: a small sales desk (admin, manager, rep, customer,
//! products), drafts, and shorthands for deciding and saving commands.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use domain::catalog::{Customer, CustomerProfile, PaymentTerms, Product, ProductDetails, Sku};
use domain::event::OrderEventKind;
use domain::lifecycle::{Decision, OrderCommand, decide};
use domain::money::{Currency, Money};
use domain::order::{
    Confirmation, ConfirmationChannel, DiscountPercent, NewOrder, Order, OrderContent, OrderLine,
    Quantity,
};
use domain::ports::{
    CustomerRepository, OrderChange, OrderRepository, ProductRepository, UserRepository,
};
use domain::review::{Finding, Severity};
use domain::user::{Actor, Email, NewUser, Role, User};
use domain::{OrderId, UserId};
use persistence::Store;
use rust_decimal::Decimal;

/// A fixed instant plus `seconds`. Whole microseconds: storage keeps microseconds, so values
/// written and read back compare equal.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
        + chrono::Duration::microseconds(123_456)
        + chrono::Duration::seconds(seconds)
}

pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

pub fn currency(code: &str) -> Currency {
    Currency::parse(code).unwrap()
}

pub async fn new_user(store: &Store, email: &str, role: Role, manager: Option<UserId>) -> User {
    store
        .create_user(NewUser {
            email: Email::parse(email).unwrap(),
            name: email.split('@').next().unwrap().to_owned(),
            role,
            manager_id: manager,
            customer_id: None,
            discount_authority: dec("12.5"),
            password_hash: None,
        })
        .await
        .unwrap()
}

pub fn profile(
    name: &str,
    owner: UserId,
    currency: Currency,
    credit_limit: Decimal,
) -> CustomerProfile {
    CustomerProfile {
        name: name.to_owned(),
        email: Some(format!(
            "buyer@{}.example",
            name.to_lowercase().replace(' ', "-")
        )),
        phone: None,
        address: Some("1 Harbour Road".to_owned()),
        owner_rep_id: owner,
        tier: Some("A".to_owned()),
        tags: vec!["wholesale".to_owned()],
        currency,
        credit_limit,
        payment_terms: PaymentTerms::Net(30),
        contacts: Vec::new(),
        addresses: Vec::new(),
        preferences: domain::catalog::Preferences::default(),
    }
}

pub async fn new_customer(store: &Store, name: &str, owner: UserId) -> Customer {
    store
        .create_customer(profile(name, owner, currency("EUR"), dec("50000")), at(0))
        .await
        .unwrap()
}

pub fn details(sku: &str, list_price: Decimal, currency: Currency) -> ProductDetails {
    ProductDetails {
        sku: Sku::parse(sku).unwrap(),
        name: format!("Product {sku}"),
        unit: "pcs".to_owned(),
        list_price: Money::new(list_price, currency).unwrap(),
        lead_time_days: 14,
        active: true,
        unit_cost: None,
    }
}

pub async fn new_product(store: &Store, sku: &str, list_price: &str) -> Product {
    store
        .create_product(details(sku, dec(list_price), currency("EUR")), at(0))
        .await
        .unwrap()
}

/// A line copying the product's SKU and name, as `build_lines` does.
pub fn line(
    line_no: u32,
    product: &Product,
    quantity: Decimal,
    unit_price: Decimal,
    discount: Decimal,
) -> OrderLine {
    OrderLine {
        line_no,
        product_id: product.id,
        sku: product.details.sku.as_str().to_owned(),
        description: product.details.name.clone(),
        quantity: Quantity::new(quantity).unwrap(),
        unit_price,
        discount: DiscountPercent::new(discount).unwrap(),
    }
}

pub fn content(lines: Vec<OrderLine>) -> OrderContent {
    OrderContent {
        lines,
        requested_date: None,
        delivery_address: Some("1 Harbour Road".to_owned()),
        payment_terms: PaymentTerms::Net(30),
        customer_po: None,
        notes: None,
    }
}

/// A draft for `customer`, owned by the customer's rep.
pub fn draft(customer: &Customer, lines: Vec<OrderLine>, created_at: DateTime<Utc>) -> NewOrder {
    NewOrder {
        customer_id: customer.id,
        sales_rep_id: customer.profile.owner_rep_id,
        currency: customer.profile.currency,
        content: content(lines),
        created_at,
    }
}

pub fn actor(user: &User) -> Actor {
    Actor {
        user_id: user.id,
        role: user.role,
        customer_id: user.customer_id,
    }
}

pub fn change(
    decision: &Decision,
    expected_version: i64,
    actor_id: UserId,
    at: DateTime<Utc>,
) -> OrderChange<'_> {
    OrderChange {
        order: &decision.order,
        expected_version,
        lines_changed: decision.lines_changed,
        events: decision.events.clone(),
        actor_id,
        at,
    }
}

pub async fn load(store: &Store, id: OrderId) -> Order {
    let mut found = store.orders_by_ids(&[id]).await.unwrap();
    assert_eq!(found.len(), 1, "order {id} should exist once");
    found.pop().unwrap()
}

/// Decides `command` on the stored order and saves it; returns the decision.
pub async fn apply(
    store: &Store,
    id: OrderId,
    command: OrderCommand,
    by: &User,
    now: DateTime<Utc>,
) -> Decision {
    let order = load(store, id).await;
    let decision = decide(&order, command, &actor(by), now).unwrap();
    let stored = store
        .save_order(change(&decision, order.version, by.id, now))
        .await
        .unwrap();
    assert_eq!(stored.len(), decision.events.len());
    decision
}

/// The happy path after a draft: submit (with an INFO finding), confirm, produce, ship.
pub fn happy_path(now: DateTime<Utc>) -> Vec<OrderCommand> {
    vec![
        OrderCommand::Submit {
            findings: vec![Finding {
                code: "LEAD_TIME".to_owned(),
                severity: Severity::Info,
                message: "ships in 14 days".to_owned(),
                line_no: Some(1),
            }],
        },
        OrderCommand::Confirm(Confirmation {
            confirmed_by: "Ms Buyer".to_owned(),
            channel: ConfirmationChannel::Email,
            reference: Some("Re: quote 17".to_owned()),
            confirmed_at: now,
            promised_date: Some(now.date_naive() + chrono::Days::new(20)),
        }),
        OrderCommand::StartProduction,
        OrderCommand::MarkReadyToShip,
        OrderCommand::Ship { complete: true },
    ]
}

pub fn status_changes(events: impl IntoIterator<Item = OrderEventKind>) -> usize {
    events
        .into_iter()
        .filter(|kind| matches!(kind, OrderEventKind::StatusChanged { .. }))
        .count()
}

/// A sales desk: an admin, a manager with one rep, the rep's customer and two products.
pub struct Desk {
    pub admin: User,
    pub manager: User,
    pub rep: User,
    pub customer: Customer,
    pub widget: Product,
    pub gadget: Product,
}

impl Desk {
    pub async fn set_up(store: &Store) -> Self {
        let admin = new_user(store, "admin@desk.example", Role::Admin, None).await;
        let manager = new_user(store, "manager@desk.example", Role::Manager, None).await;
        let rep = new_user(store, "rep@desk.example", Role::Sales, Some(manager.id)).await;
        let customer = new_customer(store, "Acme Trading", rep.id).await;
        let widget = new_product(store, "WID-1", "19.99").await;
        let gadget = new_product(store, "GAD-2", "1250.5").await;
        Self {
            admin,
            manager,
            rep,
            customer,
            widget,
            gadget,
        }
    }

    /// A two-line draft of the desk's customer.
    pub fn draft(&self, created_at: DateTime<Utc>) -> NewOrder {
        draft(
            &self.customer,
            vec![
                line(1, &self.widget, dec("3"), dec("19.99"), dec("0")),
                line(2, &self.gadget, dec("2.5"), dec("1250.5"), dec("7.5")),
            ],
            created_at,
        )
    }
}

/// A second team next to the desk's: a manager, their rep, and the rep's customer (EUR).
pub struct OtherTeam {
    pub boss: User,
    pub rep: User,
    pub customer: Customer,
}

impl OtherTeam {
    pub async fn set_up(store: &Store) -> Self {
        let boss = new_user(store, "boss@other.example", Role::Manager, None).await;
        let rep = new_user(store, "rep@other.example", Role::Sales, Some(boss.id)).await;
        let customer = new_customer(store, "Beta Imports", rep.id).await;
        Self {
            boss,
            rep,
            customer,
        }
    }
}
