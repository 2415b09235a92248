//! Custom scalars.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use rust_decimal::Decimal;

/// An exact decimal number, sent and received as a string (e.g. `"1234.50"`) so that no client
/// ever routes money through a binary float.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dec(pub Decimal);

/// An exact decimal number as a string, e.g. `"1234.50"`. Never a JSON number: money must not pass through floating point.
#[Scalar(name = "Decimal")]
impl ScalarType for Dec {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(text) => domain::money::parse_decimal("decimal", &text)
                .map(Dec)
                .map_err(|_| InputValueError::custom(format!("`{text}` is not a decimal number"))),
            other => Err(InputValueError::custom(format!(
                "decimals are sent as strings, e.g. \"12.50\"; got {other}"
            ))),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// An amount padded to at least the currency's minor-unit digits ("90.00", but "33.333" kept).
pub fn money_amount(amount: Decimal, minor_units: u32) -> Dec {
    let mut padded = amount.normalize();
    if padded.scale() < minor_units {
        padded.rescale(minor_units);
    }
    Dec(padded)
}
