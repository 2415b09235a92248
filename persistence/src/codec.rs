//! Exact storage encodings: decimals as scaled integers, instants as epoch microseconds.

use chrono::{DateTime, Utc};
use domain::ports::RepoError;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// Money columns (`*_e4`) hold 10^-4 units.
pub const MONEY_SCALE: u32 = 4;
/// Quantity columns (`*_e3`) hold 10^-3 units.
pub const QUANTITY_SCALE: u32 = 3;
/// Discount columns (`*_bp`) hold basis points (10^-2 percent).
pub const PERCENT_SCALE: u32 = 2;

/// Encodes a decimal as an integer of 10^-`scale` units, refusing anything that would not
/// round-trip exactly (more fractional digits than the scale, or beyond i64).
pub fn to_scaled(value: Decimal, scale: u32) -> Result<i64, RepoError> {
    let factor = Decimal::from(10_i64.pow(scale));
    let scaled = value
        .checked_mul(factor)
        .ok_or_else(|| RepoError::Storage(format!("{value} overflows storage")))?;
    if !scaled.fract().is_zero() {
        return Err(RepoError::Storage(format!(
            "{value} has more than {scale} decimal places"
        )));
    }
    scaled
        .to_i64()
        .ok_or_else(|| RepoError::Storage(format!("{value} overflows storage")))
}

/// Decodes [`to_scaled`].
#[must_use]
pub fn from_scaled(value: i64, scale: u32) -> Decimal {
    Decimal::new(value, scale).normalize()
}

/// Encodes an instant as microseconds since the epoch.
#[must_use]
pub fn to_micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// Decodes [`to_micros`].
pub fn from_micros(micros: i64) -> Result<DateTime<Utc>, RepoError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| RepoError::Storage(format!("timestamp {micros} out of range")))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn values_finer_than_the_scale_are_refused_not_rounded() {
        assert!(to_scaled(Decimal::from_str("0.00001").unwrap(), MONEY_SCALE).is_err());
        assert_eq!(
            to_scaled(Decimal::from_str("33.333").unwrap(), MONEY_SCALE).unwrap(),
            333_330
        );
    }

    proptest! {
        #[test]
        fn scaled_integers_round_trip_exactly(units in -9_000_000_000_000_000i64..9_000_000_000_000_000i64) {
            let value = Decimal::new(units, MONEY_SCALE);
            prop_assert_eq!(from_scaled(to_scaled(value, MONEY_SCALE).unwrap(), MONEY_SCALE), value.normalize());
        }
    }
}
