//! Exact money: a decimal amount with an ISO 4217 currency, and the one rounding rule we use.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// An ISO 4217 currency code (three upper-case ASCII letters), e.g. `EUR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses a three-letter code; lower case is accepted and normalised.
    ///
    /// # Errors
    /// `ValidationError::Invalid` when the code is not three ASCII letters.
    pub fn parse(code: &str) -> Result<Self, ValidationError> {
        let bytes = code.trim().as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Err(ValidationError::invalid(
                "currency",
                format!("`{code}` is not a three-letter ISO 4217 code"),
            ));
        }
        Ok(Self([
            bytes[0].to_ascii_uppercase(),
            bytes[1].to_ascii_uppercase(),
            bytes[2].to_ascii_uppercase(),
        ]))
    }

    /// The code as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // The constructor only admits ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Number of decimal places of the currency's minor unit (cents for EUR, none for JPY).
    #[must_use]
    pub fn minor_units(&self) -> u32 {
        match self.as_str() {
            "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" | "XAF" | "XOF" | "PYG" => 0,
            "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Currency {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_owned()
    }
}

/// The most fractional digits a unit price may carry. Storage keeps amounts as integers of
/// 10^-4 units, so anything finer could not round-trip exactly.
pub const PRICE_SCALE: u32 = 4;

/// The largest amount orderdesk handles, in currency units (ten trillion). Storage keeps
/// amounts as 64-bit integers of 10^-4 units, which holds about 9.2 × 10^14: this bound leaves
/// room for sums of many amounts, so nothing accepted can overflow later.
#[must_use]
pub fn max_amount() -> Decimal {
    Decimal::from(10_000_000_000_000_i64)
}

/// An exact amount of one currency. Never floating point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// Builds an amount, refusing more fractional digits than [`PRICE_SCALE`].
    ///
    /// # Errors
    /// `ValidationError::Invalid` when the amount has more than four decimal places or is
    /// beyond [`max_amount`].
    pub fn new(amount: Decimal, currency: Currency) -> Result<Self, ValidationError> {
        let amount = amount.normalize();
        if amount.abs() > max_amount() {
            return Err(ValidationError::invalid(
                "amount",
                format!(
                    "{amount} is beyond the largest amount handled ({})",
                    max_amount()
                ),
            ));
        }
        if amount.scale() > PRICE_SCALE {
            return Err(ValidationError::invalid(
                "amount",
                format!("{amount} has more than {PRICE_SCALE} decimal places"),
            ));
        }
        Ok(Self { amount, currency })
    }

    /// Zero in the given currency.
    #[must_use]
    pub fn zero(currency: Currency) -> Self {
        Self {
            amount: Decimal::ZERO,
            currency,
        }
    }

    /// The decimal amount.
    #[must_use]
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// The currency.
    #[must_use]
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Adds two amounts of the same currency.
    ///
    /// # Errors
    /// `ValidationError::Invalid` when the currencies differ.
    pub fn checked_add(self, other: Money) -> Result<Money, ValidationError> {
        if self.currency != other.currency {
            return Err(ValidationError::invalid(
                "currency",
                format!("cannot add {} to {}", other.currency, self.currency),
            ));
        }
        Ok(Money {
            amount: self.amount + other.amount,
            currency: self.currency,
        })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.amount.round_dp_with_strategy(
                self.currency.minor_units(),
                RoundingStrategy::MidpointAwayFromZero
            ),
            self.currency
        )
    }
}

/// An amount as people write it in `currency`: at least the minor-unit digits (25.00, not 25),
/// more only when it has them. For messages; it does not round.
#[must_use]
pub fn shown(amount: Decimal, currency: Currency) -> Decimal {
    let mut shown = amount.normalize();
    if shown.scale() < currency.minor_units() {
        shown.rescale(currency.minor_units());
    }
    shown
}

/// Rounds an amount to the currency's minor unit, half away from zero ("commercial rounding").
///
/// This is the only rounding in orderdesk: each line total is rounded once, and order totals are
/// sums of rounded line totals, so a total always equals the sum of the lines printed on paper.
#[must_use]
pub fn round_to_minor(amount: Decimal, currency: Currency) -> Decimal {
    amount
        .round_dp_with_strategy(
            currency.minor_units(),
            RoundingStrategy::MidpointAwayFromZero,
        )
        .normalize()
}

/// Parses a decimal from user text exactly (no float detour).
///
/// # Errors
/// `ValidationError::Invalid` naming `field` when the text is not a decimal number.
pub fn parse_decimal(field: &'static str, text: &str) -> Result<Decimal, ValidationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.len() > 40 {
        return Err(ValidationError::invalid(
            field,
            format!("`{text}` is not a decimal number"),
        ));
    }
    Decimal::from_str(trimmed)
        .or_else(|_| Decimal::from_scientific(trimmed))
        .map_err(|_| ValidationError::invalid(field, format!("`{text}` is not a decimal number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn currency_codes_are_normalised_and_validated() {
        assert_eq!(Currency::parse("eur").unwrap().as_str(), "EUR");
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("E1R").is_err());
        assert_eq!(Currency::parse("JPY").unwrap().minor_units(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().minor_units(), 3);
    }

    #[test]
    fn rounding_is_half_away_from_zero_in_minor_units() {
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(round_to_minor(d("2.345"), eur), d("2.35"));
        assert_eq!(round_to_minor(d("2.344"), eur), d("2.34"));
        assert_eq!(round_to_minor(d("-2.345"), eur), d("-2.35"));
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(round_to_minor(d("100.5"), jpy), d("101"));
    }

    #[test]
    fn money_refuses_sub_scale_precision() {
        let eur = Currency::parse("EUR").unwrap();
        assert!(Money::new(d("1.23456"), eur).is_err());
        assert_eq!(Money::new(d("33.3330"), eur).unwrap().amount(), d("33.333"));
    }

    #[test]
    fn amounts_beyond_ten_trillion_are_refused() {
        let eur = Currency::parse("EUR").unwrap();
        assert!(Money::new(max_amount(), eur).is_ok());
        assert!(Money::new(max_amount() + Decimal::ONE, eur).is_err());
        assert!(Money::new(-max_amount() - Decimal::ONE, eur).is_err());
    }

    #[test]
    fn adding_different_currencies_is_refused() {
        let eur = Money::zero(Currency::parse("EUR").unwrap());
        let usd = Money::zero(Currency::parse("USD").unwrap());
        assert!(eur.checked_add(usd).is_err());
    }

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(
            parse_decimal("x", "0.1").unwrap() + parse_decimal("x", "0.2").unwrap(),
            d("0.3")
        );
        assert!(parse_decimal("x", "abc").is_err());
        assert!(parse_decimal("x", "").is_err());
    }
}
