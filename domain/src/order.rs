//! Orders and their lines: content, totals, and the rules for building a draft.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalog::{PaymentTerms, Product, optional_text};
use crate::error::ValidationError;
use crate::event::OrderEventKind;
use crate::ids::{CustomerId, OrderId, ProductId, UserId};
use crate::lifecycle::{OrderStatus, PaymentStatus};
use crate::money::{Currency, Money, round_to_minor};
use crate::review::Finding;

/// The most lines one order may have; keeps every order readable in one request.
pub const MAX_LINES: usize = 200;

/// A positive quantity with at most three decimals (e.g. 2.5 kg), at most one billion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(Decimal);

impl Quantity {
    /// Fractional digits a quantity may have; storage scales by 10^3.
    pub const SCALE: u32 = 3;

    /// Parses a quantity.
    ///
    /// # Errors
    /// `ValidationError::Invalid` unless 0 < q <= 1e9 with at most three decimals.
    pub fn new(value: Decimal) -> Result<Self, ValidationError> {
        let value = value.normalize();
        if value <= Decimal::ZERO {
            return Err(ValidationError::invalid(
                "quantity",
                "must be greater than 0",
            ));
        }
        if value.scale() > Self::SCALE || value > Decimal::from(1_000_000_000) {
            return Err(ValidationError::invalid(
                "quantity",
                format!("{value} has more than 3 decimals or exceeds 1000000000"),
            ));
        }
        Ok(Self(value))
    }

    /// The amount.
    #[must_use]
    pub fn get(self) -> Decimal {
        self.0
    }
}

/// A line discount in percent, 0..=100 with at most two decimals.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct DiscountPercent(Decimal);

impl DiscountPercent {
    /// Fractional digits a discount may have; storage scales by 10^2 (basis points).
    pub const SCALE: u32 = 2;

    /// Parses a discount.
    ///
    /// # Errors
    /// `ValidationError::Invalid` unless 0 <= d <= 100 with at most two decimals.
    pub fn new(value: Decimal) -> Result<Self, ValidationError> {
        let value = value.normalize();
        if value.is_sign_negative() || value > Decimal::ONE_HUNDRED || value.scale() > Self::SCALE {
            return Err(ValidationError::invalid(
                "discountPercent",
                format!("{value} is not between 0 and 100 with at most 2 decimals"),
            ));
        }
        Ok(Self(value))
    }

    /// The percentage.
    #[must_use]
    pub fn get(self) -> Decimal {
        self.0
    }
}

/// One line of an order. Product data is copied in, so later catalogue edits do not rewrite history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// Position within the order, from 1; stable for the life of the line.
    pub line_no: u32,
    /// The product ordered.
    pub product_id: ProductId,
    /// The product's SKU when the line was written.
    pub sku: String,
    /// The product's name when the line was written.
    pub description: String,
    /// How many units.
    pub quantity: Quantity,
    /// Agreed price per unit, before discount.
    pub unit_price: Decimal,
    /// Discount on this line.
    pub discount: DiscountPercent,
}

impl OrderLine {
    /// quantity x unit price x (1 - discount/100), rounded once to the currency's minor unit.
    #[must_use]
    pub fn total(&self, currency: Currency) -> Decimal {
        let gross = self.quantity.get() * self.unit_price;
        let net = gross * (Decimal::ONE_HUNDRED - self.discount.get()) / Decimal::ONE_HUNDRED;
        round_to_minor(net, currency)
    }
}

/// What a client asks for on a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineInput {
    /// Product to order.
    pub product_id: ProductId,
    /// Quantity.
    pub quantity: Decimal,
    /// Price per unit; the product's list price when absent.
    pub unit_price: Option<Decimal>,
    /// Discount percent; 0 when absent.
    pub discount_percent: Option<Decimal>,
}

/// Builds validated lines from client input, pricing from the catalogue where no price is given.
///
/// # Errors
/// `ValidationError::Invalid` for too many lines, an unknown or inactive product, a product priced
/// in another currency, an invalid quantity, price or discount, or an order total beyond
/// [`max_amount`](crate::money::max_amount).
pub fn build_lines(
    inputs: &[LineInput],
    products: &HashMap<ProductId, Product>,
    currency: Currency,
) -> Result<Vec<OrderLine>, ValidationError> {
    let lines = build_lines_unchecked(inputs, products, currency)?;
    check_total(&lines)?;
    Ok(lines)
}

/// Refuses lines whose total, before discounts and rounding, is beyond
/// [`max_amount`](crate::money::max_amount): such an order could not be stored exactly.
///
/// # Errors
/// `ValidationError::Invalid` naming `lines`.
pub fn check_total(lines: &[OrderLine]) -> Result<(), ValidationError> {
    let mut total = Decimal::ZERO;
    for line in lines {
        total = line
            .quantity
            .get()
            .checked_mul(line.unit_price)
            .and_then(|gross| total.checked_add(gross))
            .filter(|sum| *sum <= crate::money::max_amount())
            .ok_or_else(|| {
                ValidationError::invalid(
                    "lines",
                    format!(
                        "the order total would exceed {}",
                        crate::money::max_amount()
                    ),
                )
            })?;
    }
    Ok(())
}

fn build_lines_unchecked(
    inputs: &[LineInput],
    products: &HashMap<ProductId, Product>,
    currency: Currency,
) -> Result<Vec<OrderLine>, ValidationError> {
    if inputs.len() > MAX_LINES {
        return Err(ValidationError::invalid(
            "lines",
            format!("an order has at most {MAX_LINES} lines"),
        ));
    }
    inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            new_line(
                u32::try_from(index + 1).unwrap_or(u32::MAX),
                input,
                products,
                currency,
            )
        })
        .collect()
}

/// A new line numbered `line_no` for `input`: the product must exist, be active and be priced
/// in the order's currency; without a price the list price applies.
///
/// # Errors
/// `ValidationError::Invalid` naming the offending field.
pub fn new_line(
    line_no: u32,
    input: &LineInput,
    products: &HashMap<ProductId, Product>,
    currency: Currency,
) -> Result<OrderLine, ValidationError> {
    let product = products.get(&input.product_id).ok_or_else(|| {
        ValidationError::invalid(
            "productId",
            format!("product {} does not exist", input.product_id),
        )
    })?;
    let details = &product.details;
    if !details.active {
        return Err(ValidationError::invalid(
            "productId",
            format!("product {} is not active", details.sku.as_str()),
        ));
    }
    if details.list_price.currency() != currency {
        return Err(ValidationError::invalid(
            "productId",
            format!(
                "product {} is priced in {}, the order is in {currency}",
                details.sku.as_str(),
                details.list_price.currency()
            ),
        ));
    }
    let unit_price = match input.unit_price {
        Some(price) => unit_price(price, currency)?,
        None => details.list_price.amount(),
    };
    Ok(OrderLine {
        line_no,
        product_id: input.product_id,
        sku: details.sku.as_str().to_owned(),
        description: details.name.clone(),
        quantity: Quantity::new(input.quantity)?,
        unit_price,
        discount: DiscountPercent::new(input.discount_percent.unwrap_or_default())?,
    })
}

/// A unit price: not negative, exact in the currency's storage.
///
/// # Errors
/// `ValidationError::Invalid` naming `unitPrice`.
pub fn unit_price(price: Decimal, currency: Currency) -> Result<Decimal, ValidationError> {
    if price.is_sign_negative() {
        return Err(ValidationError::invalid(
            "unitPrice",
            "must not be negative",
        ));
    }
    Money::new(price, currency)
        .map(|m| m.amount())
        .map_err(|e| ValidationError::invalid("unitPrice", e.to_string()))
}

/// The negotiable content of an order: what the customer buys, where and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderContent {
    /// Lines, in `line_no` order.
    pub lines: Vec<OrderLine>,
    /// The customer's wished delivery date.
    pub requested_date: Option<NaiveDate>,
    /// Where to deliver.
    pub delivery_address: Option<String>,
    /// Payment terms of this order.
    pub payment_terms: PaymentTerms,
    /// The customer's purchase-order reference.
    pub customer_po: Option<String>,
    /// Free notes.
    pub notes: Option<String>,
}

impl OrderContent {
    /// Normalises and checks the free-text fields.
    ///
    /// # Errors
    /// `ValidationError::Invalid` naming the field that is too long.
    pub fn validate(mut self) -> Result<Self, ValidationError> {
        self.delivery_address =
            optional_text("deliveryAddress", self.delivery_address.as_deref(), 500)?;
        self.customer_po = optional_text("customerPo", self.customer_po.as_deref(), 100)?;
        self.notes = optional_text("notes", self.notes.as_deref(), 4000)?;
        Ok(self)
    }
}

/// How the customer confirmed an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConfirmationChannel {
    /// By e-mail.
    Email,
    /// By phone.
    Phone,
    /// By WeChat.
    Wechat,
    /// During a visit.
    Visit,
    /// In a meeting.
    Meeting,
    /// In the customer portal, by a CUSTOMER user.
    Portal,
    /// Anything else.
    Other,
}

/// The record that the customer accepted the order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// Who at the customer confirmed.
    pub confirmed_by: String,
    /// Through which channel.
    pub channel: ConfirmationChannel,
    /// E-mail subject, call note, document number...
    pub reference: Option<String>,
    /// When it was recorded.
    pub confirmed_at: DateTime<Utc>,
    /// The delivery date promised to the customer.
    pub promised_date: Option<NaiveDate>,
}

/// An order as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// Identity.
    pub id: OrderId,
    /// Human-readable unique number, e.g. `SO-000123`.
    pub number: String,
    /// The buyer.
    pub customer_id: CustomerId,
    /// The owning sales rep.
    pub sales_rep_id: UserId,
    /// The one currency of every amount on the order.
    pub currency: Currency,
    /// Main lifecycle status.
    pub status: OrderStatus,
    /// While ON_HOLD: the status to resume to.
    pub held_from: Option<OrderStatus>,
    /// Invoicing / payment dimension.
    pub payment_status: PaymentStatus,
    /// What is ordered.
    pub content: OrderContent,
    /// The customer's confirmation, once given.
    pub confirmation: Option<Confirmation>,
    /// Findings of the last review.
    pub findings: Vec<Finding>,
    /// Why the order was cancelled.
    pub cancel_reason: Option<String>,
    /// When the goods are expected to arrive now (set at confirmation to the promised date,
    /// then moved by milestones, exceptions' delays and changes).
    pub expected_date: Option<NaiveDate>,
    /// Optimistic-concurrency version: +1 per accepted command.
    pub version: i64,
    /// Content revision: +1 per change applied after confirmation.
    pub revision: i32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// The order total: the sum of the rounded line totals.
    #[must_use]
    pub fn total(&self) -> Decimal {
        self.content
            .lines
            .iter()
            .map(|line| line.total(self.currency))
            .sum()
    }
}

/// An order as a list without lines reads it
/// ([`OrderRepository::list_order_summaries`](crate::ports::OrderRepository::list_order_summaries)).
///
/// A page of fifty orders that shows their totals but not their lines need not read the lines:
/// they are the costliest part of the page's statement. The total stored with the order stands
/// in for [`Order::total`]. Nor does it read the order's details, the free texts and the JSON
/// documents a list row does not show: decoding the review findings and the confirmation of
/// fifty orders was a tenth of the page's instructions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderSummary {
    /// The order's headline: identity, parties, currency, statuses, requested and expected
    /// dates, payment terms, versions and timestamps. Its lines and details are left out:
    /// `content.lines` and `findings` are empty; `confirmation`, `content.delivery_address`,
    /// `content.customer_po`, `content.notes` and `cancel_reason` are `None`. Its
    /// [`Order::total`] is therefore zero: use [`OrderSummary::total`].
    pub order: Order,
    /// The total stored when the order's lines were last written: the sum of its rounded line
    /// totals, as [`Order::total`] computes it from the lines.
    pub total: Decimal,
}

impl OrderSummary {
    /// The summary of a full order: its lines and details dropped, its computed total kept.
    #[must_use]
    pub fn of(mut order: Order) -> Self {
        let total = order.total();
        order.content.lines = Vec::new();
        order.content.delivery_address = None;
        order.content.customer_po = None;
        order.content.notes = None;
        order.confirmation = None;
        order.findings = Vec::new();
        order.cancel_reason = None;
        Self { order, total }
    }
}

/// An order not stored yet: persistence assigns id and number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// The buyer.
    pub customer_id: CustomerId,
    /// The owning rep.
    pub sales_rep_id: UserId,
    /// Currency.
    pub currency: Currency,
    /// Content.
    pub content: OrderContent,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl NewOrder {
    /// The order as created: a DRAFT at version 1, revision 0, with nothing decided yet.
    /// `id` and `number` are storage's (or the bulk loader's) to assign.
    #[must_use]
    pub fn into_draft(self, id: OrderId, number: String) -> Order {
        Order {
            id,
            number,
            customer_id: self.customer_id,
            sales_rep_id: self.sales_rep_id,
            currency: self.currency,
            status: OrderStatus::Draft,
            held_from: None,
            payment_status: PaymentStatus::Uninvoiced,
            content: self.content,
            confirmation: None,
            findings: Vec::new(),
            cancel_reason: None,
            expected_date: None,
            version: 1,
            revision: 0,
            created_at: self.created_at,
            updated_at: self.created_at,
        }
    }

    /// Sum of rounded line totals, as [`Order::total`].
    #[must_use]
    pub fn total(&self) -> Decimal {
        self.content
            .lines
            .iter()
            .map(|line| line.total(self.currency))
            .sum()
    }
}

/// The events of creating an order, once storage has numbered it.
#[must_use]
pub fn creation_events(order: &Order) -> Vec<OrderEventKind> {
    vec![OrderEventKind::OrderCreated {
        number: order.number.clone(),
        total: order.total(),
        currency: order.currency,
        line_count: u32::try_from(order.content.lines.len()).unwrap_or(u32::MAX),
    }]
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn line(q: &str, p: &str, disc: &str) -> OrderLine {
        OrderLine {
            line_no: 1,
            product_id: ProductId(1),
            sku: "X".into(),
            description: "X".into(),
            quantity: Quantity::new(d(q)).unwrap(),
            unit_price: d(p),
            discount: DiscountPercent::new(d(disc)).unwrap(),
        }
    }

    #[test]
    fn line_total_rounds_once_half_away_from_zero() {
        let eur = Currency::parse("EUR").unwrap();
        // 3 x 33.333 = 99.999; -10% = 89.9991 -> 90.00
        assert_eq!(line("3", "33.333", "10").total(eur), d("90.00"));
        // 1 x 0.005 = 0.005 -> 0.01 (half away from zero)
        assert_eq!(line("1", "0.005", "0").total(eur), d("0.01"));
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(line("3", "33.5", "0").total(jpy), d("101"));
    }

    #[test]
    fn an_order_total_beyond_storage_is_refused_before_anything_is_stored() {
        // Found by fuzzing: a billion units at a large price overflowed the storage encoding.
        let huge = line("1000000000", "99999999", "0");
        assert!(check_total(std::slice::from_ref(&huge)).is_err());
        let fine = line("1000", "99999999", "0");
        assert!(check_total(&[fine.clone(), fine]).is_ok());
        let many = vec![line("1000000", "9999999", "0"); 2];
        assert!(
            check_total(&many).is_err(),
            "the sum counts, not only each line"
        );
    }

    #[test]
    fn a_summary_keeps_the_total_of_the_lines_it_drops() {
        let eur = Currency::parse("EUR").unwrap();
        let lines = vec![line("3", "33.333", "10"), line("2", "0.005", "0")];
        let order = NewOrder {
            customer_id: CustomerId(1),
            sales_rep_id: UserId(2),
            currency: eur,
            content: OrderContent {
                lines,
                requested_date: None,
                delivery_address: None,
                payment_terms: PaymentTerms::Net(30),
                customer_po: None,
                notes: None,
            },
            created_at: DateTime::UNIX_EPOCH,
        }
        .into_draft(OrderId(7), "SO-000007".into());
        let summary = OrderSummary::of(order.clone());
        assert_eq!(summary.total, d("90.01"));
        assert!(summary.order.content.lines.is_empty());
        let mut without_lines = order;
        without_lines.content.lines.clear();
        assert_eq!(summary.order, without_lines);
    }

    #[test]
    fn quantities_and_discounts_are_bounded() {
        assert!(Quantity::new(d("0")).is_err());
        assert!(Quantity::new(d("-1")).is_err());
        assert!(Quantity::new(d("1.0001")).is_err());
        assert!(Quantity::new(d("2.5")).is_ok());
        assert!(DiscountPercent::new(d("100.01")).is_err());
        assert!(DiscountPercent::new(d("-0.5")).is_err());
        assert!(DiscountPercent::new(d("12.5")).is_ok());
    }
}
