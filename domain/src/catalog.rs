//! Customers and products: the master data orders refer to.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::ids::{CustomerId, ProductId, UserId};
use crate::money::{Currency, Money};

/// When and how a customer pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PaymentTerms {
    /// Paid in full before production.
    Prepaid,
    /// Due `n` days after the invoice date.
    Net(u16),
    /// A deposit (percent of the order) before production, the rest net `net_days`.
    Deposit {
        /// Deposit share in whole percent, 1..=99.
        percent: u8,
        /// Days after the invoice the remainder is due.
        net_days: u16,
    },
}

impl PaymentTerms {
    /// Parses `PREPAID`, `NET_30` or `DEPOSIT_30_NET_60`.
    ///
    /// # Errors
    /// `ValidationError::Invalid` for anything else, or days above 365 / a deposit outside 1..=99.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let upper = text.trim().to_ascii_uppercase();
        let bad = || {
            ValidationError::invalid(
                "paymentTerms",
                format!("`{text}` is not PREPAID, NET_<days> or DEPOSIT_<percent>_NET_<days>"),
            )
        };
        let days = |s: &str| s.parse::<u16>().ok().filter(|d| *d <= 365).ok_or_else(bad);
        if upper == "PREPAID" {
            return Ok(Self::Prepaid);
        }
        if let Some(rest) = upper.strip_prefix("NET_") {
            return Ok(Self::Net(days(rest)?));
        }
        if let Some(rest) = upper.strip_prefix("DEPOSIT_") {
            let (percent, net) = rest.split_once("_NET_").ok_or_else(bad)?;
            let percent = percent
                .parse::<u8>()
                .ok()
                .filter(|p| (1..=99).contains(p))
                .ok_or_else(bad)?;
            return Ok(Self::Deposit {
                percent,
                net_days: days(net)?,
            });
        }
        Err(bad())
    }
}

impl fmt::Display for PaymentTerms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Prepaid => f.write_str("PREPAID"),
            Self::Net(days) => write!(f, "NET_{days}"),
            Self::Deposit { percent, net_days } => write!(f, "DEPOSIT_{percent}_NET_{net_days}"),
        }
    }
}

impl TryFrom<String> for PaymentTerms {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PaymentTerms> for String {
    fn from(value: PaymentTerms) -> Self {
        value.to_string()
    }
}

/// Checks a required free-text field: trimmed, non-empty, at most `max` characters.
///
/// # Errors
/// `ValidationError::Invalid` naming `field`.
pub fn required_text(
    field: &'static str,
    text: &str,
    max: usize,
) -> Result<String, ValidationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ValidationError::invalid(field, "must not be empty"));
    }
    if text.chars().count() > max {
        return Err(ValidationError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// Checks an optional free-text field; blank becomes `None`.
///
/// # Errors
/// `ValidationError::Invalid` naming `field` when longer than `max` characters.
pub fn optional_text(
    field: &'static str,
    text: Option<&str>,
    max: usize,
) -> Result<Option<String>, ValidationError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => required_text(field, t, max).map(Some),
    }
}

/// A customer company.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Customer {
    /// Identity.
    pub id: CustomerId,
    /// The customer's details.
    pub profile: CustomerProfile,
    /// Optimistic-concurrency version, incremented on each update.
    pub version: i64,
}

/// A customer as a list of orders shows it
/// ([`CustomerRepository::customer_summaries_by_ids`](crate::ports::CustomerRepository::customer_summaries_by_ids)).
///
/// A page of fifty orders shows each order's customer by name; decoding every customer's
/// contacts, addresses and preferences (JSON documents) for it was 4 % of the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerSummary {
    /// The customer without its documents: `profile.contacts` and `profile.addresses` are
    /// empty and `profile.preferences` is the default. Everything else is as stored.
    pub customer: Customer,
}

impl CustomerSummary {
    /// The summary of a whole customer: its documents dropped.
    #[must_use]
    pub fn of(mut customer: Customer) -> Self {
        customer.profile.contacts = Vec::new();
        customer.profile.addresses = Vec::new();
        customer.profile.preferences = Preferences::default();
        Self { customer }
    }
}

/// The editable part of a customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerProfile {
    /// Company name.
    pub name: String,
    /// Main contact e-mail.
    pub email: Option<String>,
    /// Main phone.
    pub phone: Option<String>,
    /// Default delivery address.
    pub address: Option<String>,
    /// Owning sales rep.
    pub owner_rep_id: UserId,
    /// Tier / segment, e.g. `A`, `KEY_ACCOUNT`.
    pub tier: Option<String>,
    /// Free tags for search and grouping.
    pub tags: Vec<String>,
    /// The currency the customer is invoiced in.
    pub currency: Currency,
    /// Credit limit in that currency.
    pub credit_limit: Decimal,
    /// Default payment terms for new orders.
    pub payment_terms: PaymentTerms,
    /// People at the customer.
    pub contacts: Vec<Contact>,
    /// Named addresses (sites, warehouses, billing); `address` stays the default delivery address.
    pub addresses: Vec<CustomerAddress>,
    /// What the customer prefers.
    pub preferences: Preferences,
}

/// A person at a customer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Full name.
    pub name: String,
    /// Role or title, e.g. `Purchasing`.
    pub role: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// WeChat id.
    pub wechat_id: Option<String>,
}

/// A named address of a customer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerAddress {
    /// What it is, e.g. `HQ`, `Warehouse Rotterdam`, `Billing`.
    pub label: String,
    /// The address as printed on documents.
    pub address: String,
}

/// How a customer likes to be served.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    /// Free notes for the sales team.
    pub notes: Option<String>,
    /// Products the customer usually buys or asked about.
    pub preferred_product_ids: Vec<ProductId>,
    /// How the customer prefers to be contacted.
    pub preferred_channel: Option<crate::archive::Channel>,
}

/// Most contacts and addresses one customer holds; keeps a profile readable in one request.
pub const MAX_CONTACTS: usize = 50;

impl CustomerProfile {
    /// Checks field rules (name present, non-negative credit limit with at most 4 decimals, tags).
    ///
    /// # Errors
    /// `ValidationError::Invalid` naming the first offending field.
    pub fn validate(mut self) -> Result<Self, ValidationError> {
        self.name = required_text("name", &self.name, 200)?;
        self.email = optional_text("email", self.email.as_deref(), 254)?;
        self.phone = optional_text("phone", self.phone.as_deref(), 50)?;
        self.address = optional_text("address", self.address.as_deref(), 500)?;
        self.tier = optional_text("tier", self.tier.as_deref(), 50)?;
        if self.credit_limit.is_sign_negative() {
            return Err(ValidationError::invalid(
                "creditLimit",
                "must not be negative",
            ));
        }
        Money::new(self.credit_limit, self.currency)
            .map_err(|e| ValidationError::invalid("creditLimit", e.to_string()))?;
        if self.tags.len() > 20 {
            return Err(ValidationError::invalid("tags", "at most 20 tags"));
        }
        self.tags = self
            .tags
            .iter()
            .map(|t| required_text("tags", t, 50))
            .collect::<Result<_, _>>()?;
        if self.contacts.len() > MAX_CONTACTS || self.addresses.len() > MAX_CONTACTS {
            return Err(ValidationError::invalid(
                "contacts",
                format!("at most {MAX_CONTACTS} contacts and {MAX_CONTACTS} addresses"),
            ));
        }
        self.contacts = self
            .contacts
            .into_iter()
            .map(|c| {
                Ok(Contact {
                    name: required_text("contacts.name", &c.name, 200)?,
                    role: optional_text("contacts.role", c.role.as_deref(), 100)?,
                    phone: optional_text("contacts.phone", c.phone.as_deref(), 50)?,
                    email: optional_text("contacts.email", c.email.as_deref(), 254)?,
                    wechat_id: optional_text("contacts.wechatId", c.wechat_id.as_deref(), 100)?,
                })
            })
            .collect::<Result<_, ValidationError>>()?;
        self.addresses = self
            .addresses
            .into_iter()
            .map(|a| {
                Ok(CustomerAddress {
                    label: required_text("addresses.label", &a.label, 100)?,
                    address: required_text("addresses.address", &a.address, 500)?,
                })
            })
            .collect::<Result<_, ValidationError>>()?;
        self.preferences.notes =
            optional_text("preferences.notes", self.preferences.notes.as_deref(), 4000)?;
        if self.preferences.preferred_product_ids.len() > MAX_CONTACTS {
            return Err(ValidationError::invalid(
                "preferences.preferredProductIds",
                format!("at most {MAX_CONTACTS} products"),
            ));
        }
        Ok(self)
    }
}

/// A unique stock-keeping unit code: 1–64 characters of letters, digits, `-`, `_`, `.`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sku(String);

impl Sku {
    /// Parses and upper-cases a SKU.
    ///
    /// # Errors
    /// `ValidationError::Invalid` for empty, too long or odd characters.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let text = text.trim();
        if text.is_empty()
            || text.len() > 64
            || !text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ValidationError::invalid(
                "sku",
                format!("`{text}` is not a SKU (1-64 letters, digits, '-', '_', '.')"),
            ));
        }
        Ok(Self(text.to_ascii_uppercase()))
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product that can be ordered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    /// Identity.
    pub id: ProductId,
    /// The product's details.
    pub details: ProductDetails,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// The editable part of a product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductDetails {
    /// Unique SKU.
    pub sku: Sku,
    /// Name.
    pub name: String,
    /// Unit of measure, e.g. `pcs`, `kg`.
    pub unit: String,
    /// List price per unit.
    pub list_price: Money,
    /// Days from confirmation until it can ship.
    pub lead_time_days: u16,
    /// Inactive products cannot be put on new orders.
    pub active: bool,
    /// Standard cost per unit, in the list price's currency; internal (never shown to customers).
    pub unit_cost: Option<Decimal>,
}

impl ProductDetails {
    /// Checks field rules.
    ///
    /// # Errors
    /// `ValidationError::Invalid` naming the first offending field.
    pub fn validate(mut self) -> Result<Self, ValidationError> {
        self.name = required_text("name", &self.name, 200)?;
        self.unit = required_text("unit", &self.unit, 20)?;
        if self.list_price.amount().is_sign_negative() {
            return Err(ValidationError::invalid(
                "listPrice",
                "must not be negative",
            ));
        }
        if let Some(cost) = self.unit_cost {
            if cost.is_sign_negative() {
                return Err(ValidationError::invalid("unitCost", "must not be negative"));
            }
            Money::new(cost, self.list_price.currency())
                .map_err(|e| ValidationError::invalid("unitCost", e.to_string()))?;
        }
        if self.lead_time_days > 730 {
            return Err(ValidationError::invalid(
                "leadTimeDays",
                "must be at most 730",
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_terms_round_trip_through_text() {
        for text in ["PREPAID", "NET_30", "NET_0", "DEPOSIT_30_NET_60"] {
            assert_eq!(PaymentTerms::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            PaymentTerms::parse("net_45").unwrap(),
            PaymentTerms::Net(45)
        );
        for bad in [
            "",
            "NET",
            "NET_-1",
            "NET_400",
            "DEPOSIT_0_NET_30",
            "DEPOSIT_100_NET_30",
            "DEPOSIT_30",
        ] {
            assert!(PaymentTerms::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn skus_are_normalised_and_checked() {
        assert_eq!(Sku::parse(" ab-12.x ").unwrap().as_str(), "AB-12.X");
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse("a b").is_err());
        assert!(Sku::parse(&"x".repeat(65)).is_err());
    }
}
