//! The customer archive beyond the profile: notes on orders, the interaction log, follow-ups
//! and purchase history derived from orders.

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalog::required_text;
use crate::error::ValidationError;
use crate::ids::{CustomerId, OrderId, ProductId, UserId};
use crate::money::Currency;
use crate::order::Order;

/// How a contact with the customer happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Channel {
    /// E-mail.
    Email,
    /// Phone call.
    Phone,
    /// WeChat.
    Wechat,
    /// A visit at the customer.
    Visit,
    /// A meeting.
    Meeting,
    /// Anything else.
    Other,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 6] = [
        Channel::Email,
        Channel::Phone,
        Channel::Wechat,
        Channel::Visit,
        Channel::Meeting,
        Channel::Other,
    ];

    /// The stable upper-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "EMAIL",
            Channel::Phone => "PHONE",
            Channel::Wechat => "WECHAT",
            Channel::Visit => "VISIT",
            Channel::Meeting => "MEETING",
            Channel::Other => "OTHER",
        }
    }

    /// Parses the stable name.
    ///
    /// # Errors
    /// `ValidationError::Invalid` for an unknown name.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == text)
            .ok_or_else(|| ValidationError::invalid("channel", format!("unknown channel `{text}`")))
    }
}

/// Who started the contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    /// The customer contacted us.
    Inbound,
    /// We contacted the customer.
    Outbound,
}

impl Direction {
    /// The stable upper-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "INBOUND",
            Direction::Outbound => "OUTBOUND",
        }
    }

    /// Parses the stable name.
    ///
    /// # Errors
    /// `ValidationError::Invalid` for an unknown name.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text {
            "INBOUND" => Ok(Direction::Inbound),
            "OUTBOUND" => Ok(Direction::Outbound),
            _ => Err(ValidationError::invalid(
                "direction",
                format!("unknown direction `{text}`"),
            )),
        }
    }
}

/// A contact with the customer, as logged by a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInteraction {
    /// The customer.
    pub customer_id: CustomerId,
    /// The order it was about, if any (must be the same customer's).
    pub order_id: Option<OrderId>,
    /// Who logged it (and owes the follow-up).
    pub user_id: UserId,
    /// How.
    pub channel: Channel,
    /// Who started it.
    pub direction: Direction,
    /// What was said or agreed.
    pub summary: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// When the logging user must get back to the customer.
    pub follow_up_on: Option<NaiveDate>,
}

impl NewInteraction {
    /// Checks the summary and that the contact is not in the future.
    ///
    /// # Errors
    /// `ValidationError::Invalid` naming the field.
    pub fn validate(mut self, now: DateTime<Utc>) -> Result<Self, ValidationError> {
        self.summary = required_text("summary", &self.summary, 4000)?;
        if self.occurred_at > now + chrono::Duration::minutes(1) {
            return Err(ValidationError::invalid(
                "occurredAt",
                format!("{} is in the future", self.occurred_at),
            ));
        }
        Ok(self)
    }
}

/// A stored interaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interaction {
    /// Identity.
    pub id: i64,
    /// What was logged.
    pub details: NewInteraction,
    /// When the follow-up was marked done, if it was.
    pub follow_up_done_at: Option<DateTime<Utc>>,
    /// When it was logged.
    pub created_at: DateTime<Utc>,
}

/// Who may read a note on an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NoteVisibility {
    /// The sales team only; never shown to CUSTOMER users.
    Internal,
    /// Also shown to the customer's users.
    CustomerVisible,
}

impl NoteVisibility {
    /// The stable upper-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            NoteVisibility::Internal => "INTERNAL",
            NoteVisibility::CustomerVisible => "CUSTOMER_VISIBLE",
        }
    }

    /// Parses the stable name.
    ///
    /// # Errors
    /// `ValidationError::Invalid` for an unknown name.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text {
            "INTERNAL" => Ok(NoteVisibility::Internal),
            "CUSTOMER_VISIBLE" => Ok(NoteVisibility::CustomerVisible),
            _ => Err(ValidationError::invalid(
                "visibility",
                format!("unknown visibility `{text}`"),
            )),
        }
    }
}

/// A note on an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderNote {
    /// Identity.
    pub id: i64,
    /// The order.
    pub order_id: OrderId,
    /// Who wrote it.
    pub author_id: UserId,
    /// Who may read it.
    pub visibility: NoteVisibility,
    /// The text.
    pub body: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Checks a note's text.
///
/// # Errors
/// `ValidationError::Invalid` when empty or longer than 4000 characters.
pub fn note_body(text: &str) -> Result<String, ValidationError> {
    required_text("body", text, 4000)
}

/// One order as purchase history needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryOrder {
    /// When the order was created.
    pub created_at: DateTime<Utc>,
    /// Its currency.
    pub currency: Currency,
    /// Its total.
    pub total: Decimal,
    /// Per line: product, SKU, name, quantity and line total.
    pub lines: Vec<HistoryLine>,
}

/// One line of a [`HistoryOrder`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryLine {
    /// The product.
    pub product_id: ProductId,
    /// Its SKU when ordered.
    pub sku: String,
    /// Its name when ordered.
    pub description: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Line total.
    pub total: Decimal,
}

impl HistoryOrder {
    /// The history view of an order.
    #[must_use]
    pub fn of(order: &Order) -> Self {
        Self {
            created_at: order.created_at,
            currency: order.currency,
            total: order.total(),
            lines: order
                .content
                .lines
                .iter()
                .map(|l| HistoryLine {
                    product_id: l.product_id,
                    sku: l.sku.clone(),
                    description: l.description.clone(),
                    quantity: l.quantity.get(),
                    total: l.total(order.currency),
                })
                .collect(),
        }
    }
}

/// A product the customer buys most, by amount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopProduct {
    /// The product.
    pub product_id: ProductId,
    /// Its SKU on the latest order.
    pub sku: String,
    /// Its name on the latest order.
    pub description: String,
    /// Total quantity ordered.
    pub quantity: Decimal,
    /// Total amount ordered (in the history's currency).
    pub amount: Decimal,
    /// On how many orders.
    pub order_count: u32,
}

/// Purchase history derived from the orders the customer committed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurchaseHistory {
    /// The currency amounts are in (the customer's); orders in other currencies are counted
    /// in `other_currency_orders` but not summed.
    pub currency: Currency,
    /// Committed orders in `currency`.
    pub order_count: u32,
    /// Committed orders in other currencies.
    pub other_currency_orders: u32,
    /// Sum of their totals.
    pub lifetime_value: Decimal,
    /// `lifetime_value / order_count`, rounded to the minor unit.
    pub average_order_value: Option<Decimal>,
    /// When the latest committed order was placed.
    pub last_order_at: Option<DateTime<Utc>>,
    /// Average days between consecutive committed orders (needs two orders).
    pub average_days_between_orders: Option<Decimal>,
    /// Up to `top` products by amount, ties by quantity then product id.
    pub top_products: Vec<TopProduct>,
}

/// Derives purchase history from committed orders (any order, oldest or newest first).
#[must_use]
pub fn purchase_history(
    currency: Currency,
    orders: &[HistoryOrder],
    top: usize,
) -> PurchaseHistory {
    let mut mine: Vec<&HistoryOrder> = orders.iter().filter(|o| o.currency == currency).collect();
    mine.sort_by_key(|o| o.created_at);
    let count = u32::try_from(mine.len()).unwrap_or(u32::MAX);
    let lifetime_value: Decimal = mine.iter().map(|o| o.total).sum();
    let average_order_value = (count > 0)
        .then(|| crate::money::round_to_minor(lifetime_value / Decimal::from(count), currency));
    let average_days_between_orders = match (mine.first(), mine.last()) {
        (Some(first), Some(last)) if count > 1 => {
            let seconds = (last.created_at - first.created_at).num_seconds();
            Some(
                (Decimal::from(seconds) / Decimal::from(86_400 * i64::from(count - 1))).round_dp(1),
            )
        }
        _ => None,
    };
    let mut by_product: HashMap<ProductId, TopProduct> = HashMap::new();
    for order in &mine {
        let mut seen_on_order = Vec::new();
        for line in &order.lines {
            let entry = by_product
                .entry(line.product_id)
                .or_insert_with(|| TopProduct {
                    product_id: line.product_id,
                    sku: String::new(),
                    description: String::new(),
                    quantity: Decimal::ZERO,
                    amount: Decimal::ZERO,
                    order_count: 0,
                });
            // Orders are oldest first: the last write is the latest name.
            entry.sku.clone_from(&line.sku);
            entry.description.clone_from(&line.description);
            entry.quantity += line.quantity;
            entry.amount += line.total;
            if !seen_on_order.contains(&line.product_id) {
                entry.order_count += 1;
                seen_on_order.push(line.product_id);
            }
        }
    }
    let mut top_products: Vec<TopProduct> = by_product.into_values().collect();
    top_products.sort_by(|a, b| {
        b.amount
            .cmp(&a.amount)
            .then(b.quantity.cmp(&a.quantity))
            .then(a.product_id.cmp(&b.product_id))
    });
    top_products.truncate(top);
    PurchaseHistory {
        currency,
        order_count: count,
        other_currency_orders: u32::try_from(orders.len() - mine.len()).unwrap_or(u32::MAX),
        lifetime_value,
        average_order_value,
        last_order_at: mine.last().map(|o| o.created_at),
        average_days_between_orders,
        top_products,
    }
}

/// When an active order becomes a follow-up: `stale_after_days` after the latest contact with
/// its customer, or after the order was created when nobody has contacted them since.
#[must_use]
pub fn stale_order_due(
    order_created_at: DateTime<Utc>,
    last_contact_at: Option<DateTime<Utc>>,
    stale_after_days: u32,
) -> NaiveDate {
    let since = last_contact_at.map_or(order_created_at, |c| c.max(order_created_at));
    since
        .date_naive()
        .checked_add_days(Days::new(u64::from(stale_after_days)))
        .unwrap_or(NaiveDate::MAX)
}
