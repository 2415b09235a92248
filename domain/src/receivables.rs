//! Receivables analytics for settlement and collection: how overdue open invoices are (aging, by
//! customer or by sales rep) and how promptly a customer has paid in the past.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::ids::{CustomerId, UserId};
use crate::money::Currency;

/// One invoice with money still owed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenItem {
    /// The invoice.
    pub invoice_id: i64,
    /// Who owes the money.
    pub customer_id: CustomerId,
    /// The rep responsible for the customer, who chases the payment.
    pub sales_rep_id: UserId,
    /// The invoice's currency; `outstanding` is in it.
    pub currency: Currency,
    /// The last day the invoice may be paid without being late.
    pub due_on: NaiveDate,
    /// What is still owed. Zero or less means nothing is open (paid, or overpaid) and the item
    /// is left out of [`aging`].
    pub outstanding: Decimal,
}

/// How far past due an open amount is, as of a date.
///
/// Variants are declared youngest first, so the derived order is "older is greater".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AgingBucket {
    /// Not yet due, or due today.
    #[serde(rename = "CURRENT")]
    Current,
    /// 1 to 30 days past due.
    #[serde(rename = "DAYS_1_30")]
    Days1To30,
    /// 31 to 60 days past due.
    #[serde(rename = "DAYS_31_60")]
    Days31To60,
    /// 61 to 90 days past due.
    #[serde(rename = "DAYS_61_90")]
    Days61To90,
    /// More than 90 days past due.
    #[serde(rename = "OVER_90")]
    Over90,
}

impl AgingBucket {
    /// Every bucket, youngest first (the column order of an aging report).
    pub const ALL: [AgingBucket; 5] = [
        AgingBucket::Current,
        AgingBucket::Days1To30,
        AgingBucket::Days31To60,
        AgingBucket::Days61To90,
        AgingBucket::Over90,
    ];

    /// The stable upper-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AgingBucket::Current => "CURRENT",
            AgingBucket::Days1To30 => "DAYS_1_30",
            AgingBucket::Days31To60 => "DAYS_31_60",
            AgingBucket::Days61To90 => "DAYS_61_90",
            AgingBucket::Over90 => "OVER_90",
        }
    }

    /// The earliest due date of an amount in this bucket as of `as_of` (`None` for
    /// [`AgingBucket::Over90`], which has no lower end): a due date is in the first bucket, in
    /// [`AgingBucket::ALL`] order, whose earliest due date it is on or after. Lets storage age
    /// by comparing dates, the same way as [`bucket_of`].
    #[must_use]
    pub fn due_from(self, as_of: NaiveDate) -> Option<NaiveDate> {
        let days = match self {
            AgingBucket::Current => 0,
            AgingBucket::Days1To30 => 30,
            AgingBucket::Days31To60 => 60,
            AgingBucket::Days61To90 => 90,
            AgingBucket::Over90 => return None,
        };
        as_of.checked_sub_days(chrono::Days::new(days))
    }

    /// Parses the stable name.
    ///
    /// # Errors
    /// `ValidationError::Invalid` for an unknown name.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|b| b.as_str() == text)
            .ok_or_else(|| {
                ValidationError::invalid("bucket", format!("unknown aging bucket `{text}`"))
            })
    }
}

/// Whole days `due_on` lies before `as_of`; 0 when the invoice is not past due (including due
/// today, since it may still be paid today).
#[must_use]
pub fn days_overdue(due_on: NaiveDate, as_of: NaiveDate) -> i64 {
    (as_of - due_on).num_days().max(0)
}

/// The aging bucket of an amount due on `due_on`, as of `as_of`.
#[must_use]
pub fn bucket_of(due_on: NaiveDate, as_of: NaiveDate) -> AgingBucket {
    match days_overdue(due_on, as_of) {
        ..=0 => AgingBucket::Current,
        1..=30 => AgingBucket::Days1To30,
        31..=60 => AgingBucket::Days31To60,
        61..=90 => AgingBucket::Days61To90,
        _ => AgingBucket::Over90,
    }
}

/// What an aging report is grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AgingGroup {
    /// One row per customer (and currency): who owes.
    Customer,
    /// One row per sales rep (and currency): whose customers owe, i.e. who should chase.
    SalesRep,
}

/// One row of an aging report: the open amounts of one customer or rep in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgingRow {
    /// The customer id or the sales rep's user id, depending on the [`AgingGroup`].
    pub key: i64,
    /// The currency every amount of the row is in.
    pub currency: Currency,
    /// Not yet due, or due today.
    pub current: Decimal,
    /// 1 to 30 days past due.
    pub days_1_30: Decimal,
    /// 31 to 60 days past due.
    pub days_31_60: Decimal,
    /// 61 to 90 days past due.
    pub days_61_90: Decimal,
    /// More than 90 days past due.
    pub over_90: Decimal,
    /// The sum of the five buckets.
    pub total: Decimal,
    /// How many open invoices the row sums.
    pub invoice_count: u32,
}

impl AgingRow {
    fn empty(key: i64, currency: Currency) -> Self {
        Self {
            key,
            currency,
            current: Decimal::ZERO,
            days_1_30: Decimal::ZERO,
            days_31_60: Decimal::ZERO,
            days_61_90: Decimal::ZERO,
            over_90: Decimal::ZERO,
            total: Decimal::ZERO,
            invoice_count: 0,
        }
    }

    /// The row's amount in one bucket.
    #[must_use]
    pub fn amount_in(&self, bucket: AgingBucket) -> Decimal {
        match bucket {
            AgingBucket::Current => self.current,
            AgingBucket::Days1To30 => self.days_1_30,
            AgingBucket::Days31To60 => self.days_31_60,
            AgingBucket::Days61To90 => self.days_61_90,
            AgingBucket::Over90 => self.over_90,
        }
    }

    fn amount_in_mut(&mut self, bucket: AgingBucket) -> &mut Decimal {
        match bucket {
            AgingBucket::Current => &mut self.current,
            AgingBucket::Days1To30 => &mut self.days_1_30,
            AgingBucket::Days31To60 => &mut self.days_31_60,
            AgingBucket::Days61To90 => &mut self.days_61_90,
            AgingBucket::Over90 => &mut self.over_90,
        }
    }
}

/// The aging report of open items as of a date.
///
/// Groups by (key, currency): amounts in different currencies are never added, so a customer
/// owing in EUR and USD gets two rows. Items with `outstanding <= 0` are ignored (a fully paid
/// invoice is not open, and a credit balance is not a receivable to chase). Rows are sorted by
/// total descending (biggest exposure first), then key, then currency code, so the order is
/// stable whatever the input order.
///
/// Sums are exact; they cannot overflow for amounts within [`crate::money::max_amount`].
#[must_use]
pub fn aging(items: &[OpenItem], as_of: NaiveDate, group: AgingGroup) -> Vec<AgingRow> {
    let mut rows: HashMap<(i64, Currency), AgingRow> = HashMap::new();
    for item in items.iter().filter(|i| i.outstanding > Decimal::ZERO) {
        let key = match group {
            AgingGroup::Customer => item.customer_id.get(),
            AgingGroup::SalesRep => item.sales_rep_id.get(),
        };
        let row = rows
            .entry((key, item.currency))
            .or_insert_with(|| AgingRow::empty(key, item.currency));
        *row.amount_in_mut(bucket_of(item.due_on, as_of)) += item.outstanding;
        row.total += item.outstanding;
        row.invoice_count = row.invoice_count.saturating_add(1);
    }
    let mut rows: Vec<AgingRow> = rows.into_values().collect();
    rows.sort_by(|a, b| {
        b.total
            .cmp(&a.total)
            .then(a.key.cmp(&b.key))
            .then_with(|| a.currency.as_str().cmp(b.currency.as_str()))
    });
    rows
}

/// A fully paid invoice, for payment behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettledInvoice {
    /// The last day it could be paid without being late.
    pub due_on: NaiveDate,
    /// The date the last payment made it fully paid.
    pub paid_on: NaiveDate,
}

/// How promptly a customer has paid its settled invoices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentBehaviour {
    /// How many settled invoices the figures are based on.
    pub invoices_paid: u32,
    /// Mean days late, where paying early or on the due date counts as 0 (early payment is not
    /// credit against a late one), rounded half away from zero to 1 decimal. `None` without
    /// invoices.
    pub average_days_late: Option<Decimal>,
    /// Share of invoices paid on or before the due date, between 0 and 1, rounded half away
    /// from zero to 2 decimals. `None` without invoices.
    pub on_time_share: Option<Decimal>,
}

/// Summarises how promptly the given settled invoices were paid.
#[must_use]
pub fn payment_behaviour(invoices: &[SettledInvoice]) -> PaymentBehaviour {
    let invoices_paid = u32::try_from(invoices.len()).unwrap_or(u32::MAX);
    if invoices.is_empty() {
        return PaymentBehaviour {
            invoices_paid,
            average_days_late: None,
            on_time_share: None,
        };
    }
    let count = Decimal::from(invoices.len());
    // Summed as Decimal, not i64: no realistic input comes close, but Decimal has the headroom.
    let days_late: Decimal = invoices
        .iter()
        .map(|i| Decimal::from(days_overdue(i.due_on, i.paid_on)))
        .sum();
    let on_time = invoices.iter().filter(|i| i.paid_on <= i.due_on).count();
    // Half away from zero, like money: what someone checking by hand would get (a mean of
    // 2.25 days reads 2.3, not the banker's 2.2).
    let round = |value: Decimal, places: u32| {
        value.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
    };
    PaymentBehaviour {
        invoices_paid,
        average_days_late: Some(round(days_late / count, 1)),
        on_time_share: Some(round(Decimal::from(on_time) / count, 2)),
    }
}
