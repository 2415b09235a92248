//! Money and decimal input: `parse_decimal` (behind the `Decimal` scalar), `Currency::parse`,
//! `Money::new`, `Quantity::new`, `DiscountPercent::new`, `PaymentTerms::parse`, and the line and
//! order totals computed from values those accept.
//!
//! Properties: nothing panics; what parses prints back to the same value (decimals through the
//! scalar's wire form, currencies, payment terms); accepted values respect their documented
//! bounds; and an order built only from accepted values has a total that can be computed and
//! stored (amounts are stored as integers of 10^-4 units in an i64).
#![no_main]

use std::str::FromStr;

use api::graphql::scalars::Dec;
use arbitrary::Arbitrary;
use async_graphql::{ScalarType, Value};
use domain::catalog::PaymentTerms;
use domain::money::{Currency, Money, PRICE_SCALE, parse_decimal, round_to_minor};
use domain::order::{DiscountPercent, NewOrder, OrderContent, OrderLine, Quantity};
use domain::{CustomerId, ProductId, UserId};
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

#[derive(Arbitrary, Debug)]
struct Input {
    price: String,
    quantity: String,
    discount: String,
    currency: String,
    /// Lines in the order (at most `MAX_LINES`).
    lines: u8,
    terms: String,
    terms_value: Terms,
}

#[derive(Arbitrary, Debug)]
enum Terms {
    Prepaid,
    Net(u16),
    Deposit { percent: u8, net_days: u16 },
}

/// Stored as `round(value * 10^scale)` in an i64, as persistence does.
fn fits_storage(value: Decimal, scale: u32) -> bool {
    use rust_decimal::prelude::ToPrimitive;
    value
        .checked_mul(Decimal::from(10_i64.pow(scale)))
        .is_some_and(|scaled| scaled.fract().is_zero() && scaled.to_i64().is_some())
}

/// `parse_decimal`, and the `Decimal` scalar's round trip through its wire form.
fn decimal(text: &str) -> Option<Decimal> {
    let parsed = parse_decimal("x", text).ok();
    let scalar = <Dec as ScalarType>::parse(Value::String(text.to_owned())).ok();
    assert_eq!(
        parsed,
        scalar.map(|d| d.0),
        "the scalar and parse_decimal disagree on {text:?}"
    );
    let value = parsed?;
    let wire = Dec(value).to_value();
    let back = <Dec as ScalarType>::parse(wire.clone()).unwrap_or_else(|e| {
        panic!("{text:?} parsed to {value}, whose wire form {wire} does not parse: {e:?}")
    });
    assert_eq!(back.0, value, "{text:?} does not round-trip through {wire}");
    assert_eq!(
        back.0.scale(),
        value.scale(),
        "{text:?} loses its scale through {wire}"
    );
    Some(value)
}

fn currency(text: &str) -> Currency {
    match Currency::parse(text) {
        Ok(currency) => {
            let code = currency.as_str();
            assert!(
                code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()),
                "{text:?} parsed to {code:?}"
            );
            assert_eq!(
                Currency::parse(code).ok(),
                Some(currency),
                "{code} does not round-trip"
            );
            assert!(matches!(currency.minor_units(), 0 | 2 | 3));
            currency
        }
        // Fall back to a currency with each number of minor units.
        Err(_) => Currency::parse(["EUR", "JPY", "KWD"][text.len() % 3]).expect("a valid code"),
    }
}

fn payment_terms(text: &str, value: &Terms) {
    if let Ok(terms) = PaymentTerms::parse(text) {
        assert_eq!(
            PaymentTerms::parse(&terms.to_string()).ok(),
            Some(terms),
            "{text:?} parsed to {terms:?}, which does not round-trip through {terms}"
        );
    }
    let (terms, in_range) = match *value {
        Terms::Prepaid => (PaymentTerms::Prepaid, true),
        Terms::Net(days) => (PaymentTerms::Net(days), days <= 365),
        Terms::Deposit { percent, net_days } => (
            PaymentTerms::Deposit { percent, net_days },
            (1..=99).contains(&percent) && net_days <= 365,
        ),
    };
    let printed = terms.to_string();
    let parsed = PaymentTerms::parse(&printed).ok();
    if in_range {
        assert_eq!(
            parsed,
            Some(terms),
            "{terms:?} does not round-trip through {printed}"
        );
    } else {
        assert_eq!(
            parsed, None,
            "out-of-range {terms:?} printed as {printed} parses"
        );
    }
}

fuzz_target!(|input: Input| {
    let currency = currency(&input.currency);
    payment_terms(&input.terms, &input.terms_value);

    let price = decimal(&input.price).and_then(|d| {
        let money = Money::new(d, currency).ok()?;
        assert!(money.amount().scale() <= PRICE_SCALE, "{money:?}");
        let _ = money.to_string();
        let rounded = round_to_minor(money.amount(), currency);
        assert!(rounded.scale() <= currency.minor_units(), "{rounded}");
        // A unit price as `build_lines` accepts it.
        (!money.amount().is_sign_negative()).then_some(money.amount())
    });
    let quantity = decimal(&input.quantity).and_then(|d| Quantity::new(d).ok());
    if let Some(q) = quantity {
        assert!(
            q.get() > Decimal::ZERO && q.get() <= Decimal::from(1_000_000_000),
            "{q:?}"
        );
        assert!(
            fits_storage(q.get(), Quantity::SCALE),
            "{q:?} cannot be stored"
        );
    }
    let discount = decimal(&input.discount).and_then(|d| DiscountPercent::new(d).ok());
    if let Some(d) = discount {
        assert!(
            d.get() >= Decimal::ZERO && d.get() <= Decimal::ONE_HUNDRED,
            "{d:?}"
        );
        assert!(
            fits_storage(d.get(), DiscountPercent::SCALE),
            "{d:?} cannot be stored"
        );
    }

    let (Some(unit_price), Some(quantity)) = (price, quantity) else {
        return;
    };
    let line = OrderLine {
        line_no: 1,
        product_id: ProductId(1),
        sku: "SKU-1".to_owned(),
        description: "fuzzed".to_owned(),
        quantity,
        unit_price,
        discount: discount.unwrap_or_default(),
    };
    let lines = usize::from(input.lines) % domain::order::MAX_LINES + 1;
    let order = NewOrder {
        customer_id: CustomerId(1),
        sales_rep_id: UserId(1),
        currency,
        content: OrderContent {
            lines: vec![line.clone(); lines],
            requested_date: None,
            delivery_address: None,
            payment_terms: PaymentTerms::Prepaid,
            customer_po: None,
            notes: None,
        },
        created_at: chrono_epoch(),
    };
    // The domain refuses orders whose total would not fit (the bug this target found); what it
    // accepts must compute and store exactly.
    if domain::order::check_total(&order.content.lines).is_err() {
        return;
    }
    // What `createOrder` computes and stores for an order of accepted values.
    let line_total = line.total(currency);
    let total = order.total();
    assert!(
        fits_storage(unit_price, PRICE_SCALE),
        "unit price {unit_price} cannot be stored"
    );
    assert!(
        fits_storage(line_total, PRICE_SCALE),
        "line total {line_total} cannot be stored"
    );
    assert!(
        fits_storage(total, PRICE_SCALE),
        "order total {total} cannot be stored"
    );
    assert_eq!(total, line_total * Decimal::from(lines));
    let _ = Decimal::from_str(&total.to_string()).expect("a total prints as a decimal");
});

fn chrono_epoch() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::UNIX_EPOCH
}
