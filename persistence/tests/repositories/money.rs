//! Amounts, quantities and discounts come back exactly as written (storage keeps scaled integers).

use std::sync::atomic::{AtomicUsize, Ordering};

use domain::UserId;
use domain::catalog::Product;
use domain::event::OrderEventKind;
use domain::order::OrderLine;
use domain::ports::{CustomerRepository, OrderRepository, ProductRepository, RepoError};
use domain::user::Role;
use persistence::Store;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rust_decimal::Decimal;

use crate::fixtures::{at, currency, details, draft, line, new_user, profile};

backend_tests!(money_round_trips_exactly);

/// A generated case: one customer, a few products, one order using them.
#[derive(Clone, Debug)]
struct Case {
    currency: &'static str,
    credit_limit_e4: i64,
    list_prices_e4: Vec<i64>,
    /// (quantity in 10^-3, unit price in 10^-4, discount in basis points)
    lines: Vec<(i64, i64, i64)>,
}

/// The largest amount the domain accepts (`money::max_amount`, 10^13 units), in 10^-4 units.
const MAX_E4: i64 = 10_000_000_000_000 * 10_000;

/// Amounts in 10^-4 units, including the extremes the domain accepts.
fn amount_e4() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(MAX_E4),
        0..=10_000_000_i64,
        0..=MAX_E4
    ]
}

fn case() -> impl Strategy<Value = Case> {
    // Quantities up to 1e6 at unit prices up to 1e7 keep an order of six lines within what a
    // BIGINT of 10^-4 units holds (the order total is stored too).
    let order_line = (
        prop_oneof![Just(1_i64), Just(1_000), 1..=1_000_000_000_i64],
        prop_oneof![Just(0_i64), Just(5), 0..=100_000_000_000_i64],
        prop_oneof![Just(0_i64), Just(10_000), 0..=10_000_i64],
    );
    (
        prop_oneof![Just("EUR"), Just("JPY"), Just("KWD")],
        amount_e4(),
        prop::collection::vec(amount_e4(), 1..=4),
        prop::collection::vec(order_line, 1..=6),
    )
        .prop_map(|(currency, credit_limit_e4, list_prices_e4, lines)| Case {
            currency,
            credit_limit_e4,
            list_prices_e4,
            lines,
        })
}

async fn money_round_trips_exactly(store: Store) {
    let rep = new_user(&store, "rep@money.example", Role::Sales, None).await;
    let runtime = tokio::runtime::Handle::current();
    // proptest's runner is synchronous: run it on a blocking thread that drives each case on
    // this test's runtime. One database for all cases; SKUs stay unique through `next_sku`.
    let outcome = tokio::task::spawn_blocking(move || {
        let next_sku = AtomicUsize::new(0);
        let mut runner = TestRunner::new(Config {
            cases: 32,
            failure_persistence: None,
            ..Config::default()
        });
        runner.run(&case(), |case| {
            runtime.block_on(check(&store, rep.id, &next_sku, case))
        })
    })
    .await
    .expect("the property runner finishes");
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

async fn check(
    store: &Store,
    rep: UserId,
    next_sku: &AtomicUsize,
    case: Case,
) -> Result<(), TestCaseError> {
    let currency = currency(case.currency);
    let failed = |e: RepoError| TestCaseError::fail(e.to_string());

    let credit_limit = Decimal::new(case.credit_limit_e4, 4);
    let customer = store
        .create_customer(profile("Exact Ltd", rep, currency, credit_limit), at(0))
        .await
        .map_err(failed)?;
    let read = store
        .customers_by_ids(&[customer.id])
        .await
        .map_err(failed)?;
    prop_assert_eq!(read.len(), 1);
    prop_assert_eq!(read[0].profile.credit_limit, credit_limit);
    prop_assert_eq!(&read[0], &customer);

    let mut products: Vec<Product> = Vec::new();
    for &price_e4 in &case.list_prices_e4 {
        let sku = format!("EXACT-{}", next_sku.fetch_add(1, Ordering::Relaxed));
        let list_price = Decimal::new(price_e4, 4);
        let product = store
            .create_product(details(&sku, list_price, currency), at(0))
            .await
            .map_err(failed)?;
        prop_assert_eq!(product.details.list_price.amount(), list_price);
        products.push(product);
    }
    let ids: Vec<_> = products.iter().map(|p| p.id).collect();
    let mut read = store.products_by_ids(&ids).await.map_err(failed)?;
    read.sort_by_key(|p| p.id);
    prop_assert_eq!(&read, &products);

    let lines: Vec<OrderLine> = case
        .lines
        .iter()
        .zip(1..)
        .map(|(&(quantity_e3, price_e4, discount_bp), line_no)| {
            let product = &products[(line_no as usize - 1) % products.len()];
            line(
                line_no,
                product,
                Decimal::new(quantity_e3, 3),
                Decimal::new(price_e4, 4),
                Decimal::new(discount_bp, 2),
            )
        })
        .collect();
    let new = draft(&customer, lines, at(1));
    let expected_total = new.total();
    let created = store
        .create_order(new.clone(), rep, None)
        .await
        .map_err(failed)?;
    let stored = store
        .orders_by_ids(&[created.order.id])
        .await
        .map_err(failed)?;
    prop_assert_eq!(stored.len(), 1);
    let order = &stored[0];
    for (read, written) in order.content.lines.iter().zip(&new.content.lines) {
        prop_assert_eq!(read.quantity.get(), written.quantity.get());
        prop_assert_eq!(read.unit_price, written.unit_price);
        prop_assert_eq!(read.discount.get(), written.discount.get());
    }
    prop_assert_eq!(&order.content, &new.content);
    let line_sum: Decimal = order.content.lines.iter().map(|l| l.total(currency)).sum();
    prop_assert_eq!(order.total(), line_sum);
    prop_assert_eq!(order.total(), expected_total);
    prop_assert_eq!(order, &created.order);

    // The creation event carries the total through JSON, also exactly.
    let events = store.order_events(order.id).await.map_err(failed)?;
    prop_assert_eq!(&events, &created.events);
    match &events[..] {
        [event] => match &event.kind {
            OrderEventKind::OrderCreated { total, .. } => prop_assert_eq!(*total, expected_total),
            other => prop_assert!(false, "unexpected event {other:?}"),
        },
        other => prop_assert!(false, "expected one creation event, got {other:?}"),
    }
    Ok(())
}
