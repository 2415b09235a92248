//! Money and decimal input: `parse_decimal` (behind the `Decimal` scalar), `Currency::parse`,
//! `Money::new`, `Quantity::new`, `DiscountPercent::new`, `PaymentTerms::parse`, and the lines and
//! totals `build_lines` makes of them, as `createOrder` does.
//!
//! Properties: nothing panics; what parses prints back to the same value (decimals through the
//! scalar's wire form, currencies, payment terms); accepted values respect their documented
//! bounds; `build_lines` accepts exactly the lines its documented rules allow (worked out here
//! independently, including the order-total bound `check_total` enforces), builds them as asked,
//! and names an offending field when it refuses; and every order it accepts has line and order
//! totals that compute without overflow, stay within `max_amount` (plus per-line rounding) and
//! can be stored (amounts are stored as i64 integers of 10^-4 units).
//! `regressions/money_parse/` holds an input that once broke the last property.
#![no_main]

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::LazyLock;

use api::graphql::scalars::Dec;
use arbitrary::Arbitrary;
use async_graphql::{ScalarType, Value};
use domain::ValidationError;
use domain::catalog::{PaymentTerms, Product, ProductDetails, Sku};
use domain::money::{Currency, Money, PRICE_SCALE, max_amount, parse_decimal, round_to_minor};
use domain::order::{
    DiscountPercent, LineInput, MAX_LINES, NewOrder, OrderContent, OrderLine, Quantity, build_lines,
};
use domain::{CustomerId, ProductId, UserId};
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

/// `FUZZ_SHOW_ACCEPTED=1 fuzz/target/<triple>/release/money_parse -runs=0 fuzz/corpus/money_parse`
/// lists which orders of a corpus `build_lines` accepted, and which field it refused the others
/// for: evidence that the fuzzer reaches both sides, including the order-total bound.
static SHOW: LazyLock<bool> = LazyLock::new(|| std::env::var_os("FUZZ_SHOW_ACCEPTED").is_some());

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

/// What `build_lines` must make of `count` copies of `line` for a product listed at `list_price`,
/// worked out from its documented rules: the lines, or the fields that are invalid.
fn expected_lines(
    line: &LineInput,
    list_price: Decimal,
    currency: Currency,
    count: usize,
) -> Result<Vec<OrderLine>, Vec<&'static str>> {
    let mut invalid = Vec::new();
    let unit_price = match line.unit_price {
        None => Some(list_price),
        Some(price) if price < Decimal::ZERO => None,
        Some(price) => Money::new(price, currency).ok().map(|m| m.amount()),
    };
    if unit_price.is_none() {
        invalid.push("unitPrice");
    }
    let quantity = Quantity::new(line.quantity).ok();
    if quantity.is_none() {
        invalid.push("quantity");
    }
    let discount = DiscountPercent::new(line.discount_percent.unwrap_or_default()).ok();
    if discount.is_none() {
        invalid.push("discountPercent");
    }
    let (Some(unit_price), Some(quantity), Some(discount)) = (unit_price, quantity, discount)
    else {
        return Err(invalid);
    };
    // At most 10^9 x 10^13 x 200: no overflow in a Decimal.
    let gross = quantity.get() * unit_price * Decimal::from(count);
    if gross > max_amount() {
        invalid.push("lines");
        return Err(invalid);
    }
    let lines = (1..=count)
        .map(|line_no| OrderLine {
            line_no: u32::try_from(line_no).expect("at most MAX_LINES"),
            product_id: line.product_id,
            sku: "SKU-1".to_owned(),
            description: "fuzzed".to_owned(),
            quantity,
            unit_price,
            discount,
        })
        .collect();
    Ok(lines)
}

fuzz_target!(|input: Input| {
    let currency = currency(&input.currency);
    payment_terms(&input.terms, &input.terms_value);

    let price = decimal(&input.price);
    let money = price.and_then(|d| Money::new(d, currency).ok());
    if let Some(money) = money {
        assert!(money.amount().scale() <= PRICE_SCALE, "{money:?}");
        assert!(money.amount().abs() <= max_amount(), "{money:?}");
        assert!(
            fits_storage(money.amount(), PRICE_SCALE),
            "{money:?} cannot be stored"
        );
        let _ = money.to_string();
        let rounded = round_to_minor(money.amount(), currency);
        assert!(rounded.scale() <= currency.minor_units(), "{rounded}");
    }
    let quantity = decimal(&input.quantity);
    if let Some(q) = quantity.and_then(|d| Quantity::new(d).ok()) {
        assert!(
            q.get() > Decimal::ZERO && q.get() <= Decimal::from(1_000_000_000),
            "{q:?}"
        );
        assert!(
            fits_storage(q.get(), Quantity::SCALE),
            "{q:?} cannot be stored"
        );
    }
    let discount = decimal(&input.discount);
    if let Some(d) = discount.and_then(|d| DiscountPercent::new(d).ok()) {
        assert!(
            d.get() >= Decimal::ZERO && d.get() <= Decimal::ONE_HUNDRED,
            "{d:?}"
        );
        assert!(
            fits_storage(d.get(), DiscountPercent::SCALE),
            "{d:?} cannot be stored"
        );
    }

    // An order as `createOrder` builds it: `lines` lines of the fuzzed quantity, price and
    // discount through `build_lines`, priced from the catalogue when the price does not parse.
    let Some(quantity) = quantity else {
        return;
    };
    let list_price = money
        .filter(|m| !m.amount().is_sign_negative())
        .unwrap_or_else(|| Money::new(Decimal::ONE, currency).expect("one unit is an amount"));
    let product = Product {
        id: ProductId(1),
        details: ProductDetails {
            sku: Sku::parse("SKU-1").expect("a valid SKU"),
            name: "fuzzed".to_owned(),
            unit: "pcs".to_owned(),
            list_price,
            lead_time_days: 0,
            active: true,
            unit_cost: None,
        },
        version: 1,
    };
    let products = HashMap::from([(product.id, product)]);
    let line = LineInput {
        product_id: ProductId(1),
        quantity,
        unit_price: price,
        discount_percent: discount,
    };
    let count = usize::from(input.lines) % MAX_LINES + 1;
    let expected = expected_lines(&line, list_price.amount(), currency, count);
    let lines = match (
        build_lines(&vec![line; count], &products, currency),
        expected,
    ) {
        (Ok(lines), Ok(expected)) => {
            assert_eq!(lines, expected, "{count} lines built other than asked");
            lines
        }
        (Err(ValidationError::Invalid { field, message }), Err(invalid)) => {
            assert!(
                invalid.contains(&field),
                "refused naming {field} ({message}), but what is wrong is {invalid:?}"
            );
            if *SHOW {
                eprintln!("refused {field}");
            }
            return;
        }
        (Ok(lines), Err(invalid)) => panic!("accepted despite {invalid:?}: {lines:?}"),
        (Err(e), Ok(_)) => panic!("refused {count} valid lines: {e}"),
    };
    // Accepted: every stored number and the total must compute without overflow and fit, and
    // stay within the documented bound: the gross total is at most `max_amount`, discounts only
    // lower it, and rounding each line to the minor unit adds at most half a minor unit.
    let half_minor = Decimal::new(5, currency.minor_units() + 1);
    let mut sum = Decimal::ZERO;
    for line in &lines {
        assert!(
            fits_storage(line.unit_price, PRICE_SCALE),
            "{line:?}: unit price"
        );
        let total = line.total(currency);
        assert!(fits_storage(total, PRICE_SCALE), "{line:?}: total {total}");
        assert!(
            total.scale() <= currency.minor_units(),
            "{line:?}: total {total}"
        );
        let gross = line.quantity.get() * line.unit_price;
        assert!(
            total >= Decimal::ZERO && total <= gross + half_minor,
            "{line:?}: total {total} outside 0..={gross} (+ rounding)"
        );
        if line.discount.get() == Decimal::ONE_HUNDRED {
            assert!(total.is_zero(), "{line:?}: fully discounted, total {total}");
        }
        sum += total;
    }
    assert!(
        sum <= max_amount() + half_minor * Decimal::from(lines.len()),
        "{count} lines total {sum}, beyond {}",
        max_amount()
    );
    if *SHOW {
        eprintln!("accepted {count} x {:?} {currency}", lines[0]);
    }
    let order = NewOrder {
        customer_id: CustomerId(1),
        sales_rep_id: UserId(1),
        currency,
        content: OrderContent {
            lines,
            requested_date: None,
            delivery_address: None,
            payment_terms: PaymentTerms::Prepaid,
            customer_po: None,
            notes: None,
        },
        created_at: chrono::DateTime::UNIX_EPOCH,
    };
    let total = order.total();
    assert_eq!(total, sum, "the order total is the sum of the line totals");
    assert!(
        fits_storage(total, PRICE_SCALE),
        "order total {total} cannot be stored"
    );
    let _ = Decimal::from_str(&total.to_string()).expect("a total prints as a decimal");
});
