//! Purchase history and follow-up due dates, derived from orders and contacts.

use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use domain::archive::{
    Channel, Direction, HistoryLine, HistoryOrder, NewInteraction, purchase_history,
    stale_order_due,
};
use domain::ids::{CustomerId, ProductId, UserId};
use domain::money::Currency;
use proptest::prelude::*;
use rust_decimal::Decimal;

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, day, 9, 0, 0).unwrap()
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn order(day: u32, currency: Currency, lines: &[(i64, &str, &str)]) -> HistoryOrder {
    let lines: Vec<HistoryLine> = lines
        .iter()
        .map(|(product, qty, total)| HistoryLine {
            product_id: ProductId(*product),
            sku: format!("SKU-{product}"),
            description: format!("Product {product}"),
            quantity: dec(qty),
            total: dec(total),
        })
        .collect();
    HistoryOrder {
        created_at: at(day),
        currency,
        total: lines.iter().map(|l| l.total).sum(),
        lines,
    }
}

#[test]
fn history_of_a_new_customer_is_empty() {
    let history = purchase_history(eur(), &[], 5);
    assert_eq!(history.order_count, 0);
    assert_eq!(history.lifetime_value, Decimal::ZERO);
    assert_eq!(history.average_order_value, None);
    assert_eq!(history.last_order_at, None);
    assert_eq!(history.average_days_between_orders, None);
    assert!(history.top_products.is_empty());
}

#[test]
fn history_sums_counts_and_ranks_products() {
    let usd = Currency::parse("USD").unwrap();
    let orders = [
        order(21, eur(), &[(1, "10", "100.00"), (2, "1", "500.00")]),
        order(1, eur(), &[(1, "5", "50.00")]),
        order(
            11,
            eur(),
            &[(3, "2", "20.00"), (1, "1", "10.00"), (1, "1", "10.00")],
        ),
        order(15, usd, &[(9, "1000", "99999.00")]),
    ];
    let history = purchase_history(eur(), &orders, 2);
    assert_eq!(history.order_count, 3);
    assert_eq!(history.other_currency_orders, 1);
    assert_eq!(history.lifetime_value, dec("690.00"));
    assert_eq!(history.average_order_value, Some(dec("230.00")));
    assert_eq!(history.last_order_at, Some(at(21)));
    // Oct 1 -> Oct 21 over two gaps.
    assert_eq!(history.average_days_between_orders, Some(dec("10.0")));
    let top: Vec<(i64, Decimal, u32)> = history
        .top_products
        .iter()
        .map(|t| (t.product_id.0, t.amount, t.order_count))
        .collect();
    assert_eq!(
        top,
        vec![(2, dec("500.00"), 1), (1, dec("170.00"), 3)],
        "by amount, order counted once even with two lines of the product"
    );
    assert_eq!(history.top_products[1].quantity, dec("17"));
}

#[test]
fn a_stale_order_is_due_days_after_the_last_contact_or_its_creation() {
    let created = at(1);
    assert_eq!(
        stale_order_due(created, None, 14),
        NaiveDate::from_ymd_opt(2026, 10, 15).unwrap()
    );
    assert_eq!(
        stale_order_due(created, Some(at(10)), 14),
        NaiveDate::from_ymd_opt(2026, 10, 24).unwrap()
    );
    // A contact before the order existed does not make the new order stale sooner.
    assert_eq!(
        stale_order_due(created, Some(created - Duration::days(30)), 14),
        NaiveDate::from_ymd_opt(2026, 10, 15).unwrap()
    );
}

#[test]
fn interactions_in_the_future_or_without_summary_are_refused() {
    let now = at(20);
    let interaction = NewInteraction {
        customer_id: CustomerId(1),
        order_id: None,
        user_id: UserId(2),
        channel: Channel::Phone,
        direction: Direction::Outbound,
        summary: "  Discussed the delivery window  ".into(),
        occurred_at: at(19),
        follow_up_on: None,
    };
    assert_eq!(
        interaction.clone().validate(now).unwrap().summary,
        "Discussed the delivery window"
    );
    let future = NewInteraction {
        occurred_at: now + Duration::hours(2),
        ..interaction.clone()
    };
    assert!(future.validate(now).is_err());
    let empty = NewInteraction {
        summary: "   ".into(),
        ..interaction
    };
    assert!(empty.validate(now).is_err());
}

proptest! {
    /// Lifetime value is the sum of same-currency totals, the average times the count is the
    /// lifetime value (up to rounding), and top products never exceed the limit.
    #[test]
    fn history_is_consistent_with_its_orders(
        orders in prop::collection::vec(
            (1u32..29, any::<bool>(), prop::collection::vec((1i64..6, 1u32..100, 1u32..100_000), 1..4)),
            0..12,
        ),
        top in 0usize..6,
    ) {
        let usd = Currency::parse("USD").unwrap();
        let orders: Vec<HistoryOrder> = orders
            .iter()
            .map(|(day, in_usd, lines)| {
                let lines: Vec<(i64, String, String)> = lines
                    .iter()
                    .map(|(p, q, cents)| (*p, q.to_string(), Decimal::new(i64::from(*cents), 2).to_string()))
                    .collect();
                let borrowed: Vec<(i64, &str, &str)> =
                    lines.iter().map(|(p, q, t)| (*p, q.as_str(), t.as_str())).collect();
                order(*day, if *in_usd { usd } else { eur() }, &borrowed)
            })
            .collect();
        let history = purchase_history(eur(), &orders, top);
        let mine: Vec<&HistoryOrder> = orders.iter().filter(|o| o.currency == eur()).collect();
        prop_assert_eq!(history.order_count as usize, mine.len());
        prop_assert_eq!(history.other_currency_orders as usize, orders.len() - mine.len());
        prop_assert_eq!(history.lifetime_value, mine.iter().map(|o| o.total).sum::<Decimal>());
        if let Some(avg) = history.average_order_value {
            let diff = (avg * Decimal::from(history.order_count) - history.lifetime_value).abs();
            prop_assert!(diff <= Decimal::new(1, 2) * Decimal::from(history.order_count));
        }
        prop_assert!(history.top_products.len() <= top);
        let amounts: Vec<Decimal> = history.top_products.iter().map(|t| t.amount).collect();
        prop_assert!(amounts.windows(2).all(|w| w[0] >= w[1]));
        prop_assert_eq!(history.last_order_at, mine.iter().map(|o| o.created_at).max());
    }
}
