//! Review rules: each rule fires exactly when its condition holds (unit tests at the
//! boundaries, property tests over random orders), and the policy decides severities.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::NaiveDate;
use domain::catalog::PaymentTerms;
use domain::ids::ProductId;
use domain::lifecycle::OrderStatus;
use domain::money::{Currency, Money};
use domain::order::{DiscountPercent, OrderContent, OrderLine, Quantity};
use domain::review::{
    CreditPosition, Finding, ProductFacts, ReviewContext, ReviewPolicy, RuleCode, Severity,
    evaluate, outcome_of,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
}

fn line(no: u32, product: i64, qty: &str, price: &str, discount: &str) -> OrderLine {
    OrderLine {
        line_no: no,
        product_id: ProductId(product),
        sku: format!("SKU-{product}"),
        description: "Widget".into(),
        quantity: Quantity::new(dec(qty)).unwrap(),
        unit_price: dec(price),
        discount: DiscountPercent::new(dec(discount)).unwrap(),
    }
}

/// A line as stored data could hold it if something upstream went wrong: serde does not run
/// the constructors' checks, so this reaches values the API refuses at the door.
fn raw_line(no: u32, product: i64, qty: &str, price: &str, discount: &str) -> OrderLine {
    serde_json::from_value(serde_json::json!({
        "line_no": no,
        "product_id": product,
        "sku": format!("SKU-{product}"),
        "description": "Widget",
        "quantity": qty,
        "unit_price": price,
        "discount": discount,
    }))
    .unwrap()
}

/// A clean order: two lines at list price, a date far enough out, an address, no PO.
fn content() -> OrderContent {
    OrderContent {
        lines: vec![
            line(1, 1, "10", "25.00", "0"),
            line(2, 2, "4", "100.00", "0"),
        ],
        requested_date: Some(NaiveDate::from_ymd_opt(2027, 1, 15).unwrap()),
        delivery_address: Some("1 Harbour Rd".into()),
        payment_terms: PaymentTerms::Net(30),
        customer_po: None,
        notes: None,
    }
}

fn facts(price: &str, lead: u16) -> ProductFacts {
    ProductFacts {
        list_price: Money::new(dec(price), eur()).unwrap(),
        lead_time_days: lead,
    }
}

/// Context matching `content()`: list prices as on the lines, lead times 10 and 20 days,
/// a 10% authority, a credit limit of 10 000 with nothing else owed.
fn ctx() -> ReviewContext {
    ReviewContext {
        today: today(),
        discount_authority: dec("10"),
        products: HashMap::from([
            (ProductId(1), facts("25.00", 10)),
            (ProductId(2), facts("100.00", 20)),
        ]),
        credit: CreditPosition {
            limit: Money::new(dec("10000"), eur()).unwrap(),
            open_receivables: Decimal::ZERO,
            unbilled_confirmed: Decimal::ZERO,
        },
        same_po_orders: Vec::new(),
    }
}

fn run(content: &OrderContent, ctx: &ReviewContext) -> Vec<Finding> {
    evaluate(eur(), content, ctx, &ReviewPolicy::default())
}

fn codes(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.code.as_str()).collect()
}

#[test]
fn a_clean_order_has_no_findings_and_is_approved() {
    let findings = run(&content(), &ctx());
    assert_eq!(findings, vec![]);
    assert_eq!(outcome_of(&findings), OrderStatus::Approved);
}

#[test]
fn completeness_rules_are_blockers() {
    let mut c = content();
    c.lines.clear();
    c.delivery_address = None;
    c.requested_date = None;
    let findings = run(&c, &ctx());
    assert_eq!(
        codes(&findings),
        [
            "NO_LINES",
            "MISSING_DELIVERY_ADDRESS",
            "MISSING_REQUESTED_DATE"
        ]
    );
    assert!(findings.iter().all(|f| f.severity == Severity::Blocker));
    assert_eq!(outcome_of(&findings), OrderStatus::NeedsRevision);
}

#[test]
fn a_quantity_of_zero_is_a_blocker_on_its_line() {
    let mut c = content();
    c.lines[1] = raw_line(2, 2, "0", "100.00", "0");
    let findings = run(&c, &ctx());
    assert_eq!(codes(&findings), ["QUANTITY_NOT_POSITIVE"]);
    assert_eq!(findings[0].line_no, Some(2));
    assert_eq!(findings[0].severity, Severity::Blocker);
}

#[test]
fn a_discount_outside_0_to_100_is_a_blocker() {
    let mut c = content();
    c.lines[0] = raw_line(1, 1, "10", "25.00", "120");
    let findings = run(&c, &ctx());
    assert!(
        codes(&findings).contains(&"DISCOUNT_OUT_OF_RANGE"),
        "{findings:?}"
    );
    c.lines[0] = raw_line(1, 1, "10", "25.00", "-5");
    assert!(codes(&run(&c, &ctx())).contains(&"DISCOUNT_OUT_OF_RANGE"));
}

#[test]
fn a_price_off_list_without_discount_needs_approval_either_way() {
    let mut c = content();
    c.lines[0] = line(1, 1, "10", "24.00", "0");
    let below = run(&c, &ctx());
    assert_eq!(codes(&below), ["PRICE_NOT_LIST"]);
    assert!(
        below[0].message.contains("below the list price 25.00"),
        "{}",
        below[0].message
    );
    assert_eq!(below[0].severity, Severity::NeedsApproval);
    c.lines[0] = line(1, 1, "10", "26.00", "0");
    assert_eq!(codes(&run(&c, &ctx())), ["PRICE_NOT_LIST"]);
    // The same price expressed as a discount is a visible, authorised concession: no finding.
    c.lines[0] = line(1, 1, "10", "25.00", "4");
    assert_eq!(run(&c, &ctx()), vec![]);
}

#[test]
fn a_list_price_changed_since_the_draft_is_caught_at_submit() {
    let mut context = ctx();
    context.products.insert(ProductId(2), facts("110.00", 20));
    let findings = run(&content(), &context);
    assert_eq!(codes(&findings), ["PRICE_NOT_LIST"]);
    assert_eq!(findings[0].line_no, Some(2));
}

#[test]
fn a_product_repriced_in_another_currency_is_a_blocker() {
    let mut context = ctx();
    context.products.insert(
        ProductId(1),
        ProductFacts {
            list_price: Money::new(dec("30"), Currency::parse("USD").unwrap()).unwrap(),
            lead_time_days: 10,
        },
    );
    let findings = run(&content(), &context);
    assert_eq!(codes(&findings), ["CURRENCY_MISMATCH"]);
    assert!(findings[0].message.contains("USD"));
}

#[test]
fn a_total_beyond_the_money_range_is_a_blocker_and_skips_money_rules() {
    let mut c = content();
    c.lines[0] = raw_line(1, 1, "1000000000", "10000000000000", "0");
    let mut context = ctx();
    context
        .products
        .insert(ProductId(1), facts("10000000000000", 10));
    let findings = run(&c, &context);
    assert_eq!(codes(&findings), ["TOTAL_INCONSISTENT"], "{findings:?}");
}

#[test]
fn discount_above_authority_fires_only_above_it() {
    let mut c = content();
    c.lines[0] = line(1, 1, "10", "25.00", "10");
    assert_eq!(run(&c, &ctx()), vec![], "exactly the authority is allowed");
    c.lines[0] = line(1, 1, "10", "25.00", "10.01");
    let findings = run(&c, &ctx());
    assert_eq!(codes(&findings), ["DISCOUNT_ABOVE_AUTHORITY"]);
    assert_eq!(findings[0].line_no, Some(1));
    assert_eq!(outcome_of(&findings), OrderStatus::PendingApproval);
}

#[test]
fn credit_limit_counts_receivables_unbilled_orders_and_this_order() {
    // content() totals 650.00.
    let mut context = ctx();
    context.credit.open_receivables = dec("4000");
    context.credit.unbilled_confirmed = dec("5350");
    assert_eq!(run(&content(), &context), vec![], "exactly at the limit");
    context.credit.unbilled_confirmed = dec("5350.01");
    let findings = run(&content(), &context);
    assert_eq!(codes(&findings), ["CREDIT_LIMIT_EXCEEDED"]);
    assert!(
        findings[0].message.contains("10000.01"),
        "{}",
        findings[0].message
    );
}

#[test]
fn a_credit_limit_in_another_currency_is_not_compared() {
    let mut context = ctx();
    context.credit.limit = Money::new(dec("1"), Currency::parse("USD").unwrap()).unwrap();
    assert_eq!(run(&content(), &context), vec![]);
}

#[test]
fn lead_time_uses_the_longest_lead_time_of_the_order() {
    let mut c = content();
    // Product 2 needs 20 days: 2026-11-27 + 20 = 2026-12-17.
    c.requested_date = NaiveDate::from_ymd_opt(2026, 12, 17);
    assert_eq!(run(&c, &ctx()), vec![]);
    c.requested_date = NaiveDate::from_ymd_opt(2026, 12, 16);
    let findings = run(&c, &ctx());
    assert_eq!(codes(&findings), ["LEAD_TIME"]);
    assert!(findings[0].message.contains("2026-12-17"));
}

#[test]
fn minimum_amount_applies_per_currency() {
    let mut policy = ReviewPolicy::default();
    policy.set_minimum_amount(eur(), dec("650.00")).unwrap();
    assert_eq!(evaluate(eur(), &content(), &ctx(), &policy), vec![]);
    policy.set_minimum_amount(eur(), dec("650.01")).unwrap();
    let findings = evaluate(eur(), &content(), &ctx(), &policy);
    assert_eq!(codes(&findings), ["MINIMUM_AMOUNT"]);
    let mut usd_only = ReviewPolicy::default();
    usd_only
        .set_minimum_amount(Currency::parse("USD").unwrap(), dec("1000000"))
        .unwrap();
    assert_eq!(evaluate(eur(), &content(), &ctx(), &usd_only), vec![]);
    assert!(policy.set_minimum_amount(eur(), dec("-1")).is_err());
}

#[test]
fn possible_duplicate_names_the_other_orders() {
    let mut c = content();
    c.customer_po = Some("PO-7781".into());
    let mut context = ctx();
    assert_eq!(run(&c, &context), vec![]);
    context.same_po_orders = vec!["SO-000012".into(), "SO-000040".into()];
    let findings = run(&c, &context);
    assert_eq!(codes(&findings), ["POSSIBLE_DUPLICATE"]);
    assert!(findings[0].message.contains("SO-000012, SO-000040"));
}

#[test]
fn the_policy_sets_severities_and_can_switch_rules_off() {
    let mut c = content();
    c.requested_date = NaiveDate::from_ymd_opt(2026, 11, 30);
    let mut policy = ReviewPolicy::default();
    policy.set_severity(RuleCode::LeadTime, Some(Severity::Info));
    let findings = evaluate(eur(), &c, &ctx(), &policy);
    assert_eq!(findings[0].severity, Severity::Info);
    assert_eq!(outcome_of(&findings), OrderStatus::Approved);
    policy.set_severity(RuleCode::LeadTime, Some(Severity::Blocker));
    assert_eq!(
        outcome_of(&evaluate(eur(), &c, &ctx(), &policy)),
        OrderStatus::NeedsRevision
    );
    policy.set_severity(RuleCode::LeadTime, None);
    assert_eq!(evaluate(eur(), &c, &ctx(), &policy), vec![]);
}

#[test]
fn rule_codes_round_trip_and_unknown_codes_are_refused() {
    for code in RuleCode::ALL {
        assert_eq!(RuleCode::parse(code.as_str()).unwrap(), code);
        assert!(!code.description().is_empty());
    }
    assert!(RuleCode::parse("LEADTIME").is_err());
}

fn severity() -> impl Strategy<Value = Option<Severity>> {
    prop_oneof![
        Just(None),
        Just(Some(Severity::Info)),
        Just(Some(Severity::NeedsApproval)),
        Just(Some(Severity::Blocker)),
    ]
}

prop_compose! {
    /// A random order over products 1..=4 (lead times 0..60 days, prices at or off list).
    fn arb_case()(
        lines in prop::collection::vec((1i64..=4, 1u32..500, 0u32..40_00, 0u32..30_00, any::<bool>()), 0..6),
        lead_times in prop::collection::vec(0u16..60, 4),
        days_out in -5i64..90,
        address in any::<bool>(),
        authority in 0u32..20,
        owed in 0u64..2_000_000,
        limit in 0u64..4_000_000,
        same_po in any::<bool>(),
    ) -> (OrderContent, ReviewContext) {
        let mut products = HashMap::new();
        let content_lines: Vec<OrderLine> = lines
            .iter()
            .enumerate()
            .map(|(i, (product, qty, price_cents, discount_bp, off_list))| {
                let list = Decimal::new(i64::from(*price_cents) + 100, 2);
                products.insert(ProductId(*product), ProductFacts {
                    list_price: Money::new(list, eur()).unwrap(),
                    lead_time_days: lead_times[(*product - 1) as usize],
                });
                OrderLine {
                    line_no: u32::try_from(i + 1).unwrap(),
                    product_id: ProductId(*product),
                    sku: format!("SKU-{product}"),
                    description: "Widget".into(),
                    quantity: Quantity::new(Decimal::from(*qty)).unwrap(),
                    unit_price: if *off_list { list + Decimal::ONE } else { list },
                    discount: DiscountPercent::new(Decimal::new(i64::from(*discount_bp), 2)).unwrap(),
                }
            })
            .collect();
        // Later lines of the same product overwrite the facts: the order then holds stale
        // prices, which is exactly what PRICE_NOT_LIST is for.
        let content = OrderContent {
            lines: content_lines,
            requested_date: today().checked_add_signed(chrono::Duration::days(days_out)),
            delivery_address: address.then(|| "Dock 4".to_owned()),
            payment_terms: PaymentTerms::Net(30),
            customer_po: Some("PO-1".into()),
            notes: None,
        };
        let ctx = ReviewContext {
            today: today(),
            discount_authority: Decimal::from(authority),
            products,
            credit: CreditPosition {
                limit: Money::new(Decimal::new(i64::try_from(limit).unwrap(), 2), eur()).unwrap(),
                open_receivables: Decimal::ZERO,
                unbilled_confirmed: Decimal::new(i64::try_from(owed).unwrap(), 2),
            },
            same_po_orders: if same_po { vec!["SO-000001".into()] } else { vec![] },
        };
        (content, ctx)
    }
}

proptest! {
    /// Each money/date rule fires exactly when its condition holds.
    #[test]
    fn rules_fire_exactly_when_their_condition_holds((content, ctx) in arb_case()) {
        let findings = run(&content, &ctx);
        let has = |code: &str| findings.iter().any(|f| f.code == code);
        let total: Decimal = content.lines.iter().map(|l| l.total(eur())).sum();

        let above: Vec<u32> = content
            .lines
            .iter()
            .filter(|l| l.discount.get() > ctx.discount_authority)
            .map(|l| l.line_no)
            .collect();
        let flagged: Vec<u32> = findings
            .iter()
            .filter(|f| f.code == "DISCOUNT_ABOVE_AUTHORITY")
            .filter_map(|f| f.line_no)
            .collect();
        prop_assert_eq!(flagged, above);

        prop_assert_eq!(
            has("CREDIT_LIMIT_EXCEEDED"),
            ctx.credit.unbilled_confirmed + total > ctx.credit.limit.amount()
        );
        let longest = content
            .lines
            .iter()
            .map(|l| ctx.products[&l.product_id].lead_time_days)
            .max();
        let late = longest.is_some_and(|days| {
            content.requested_date.unwrap()
                < today() + chrono::Duration::days(i64::from(days))
        });
        prop_assert_eq!(has("LEAD_TIME"), late);
        prop_assert_eq!(has("NO_LINES"), content.lines.is_empty());
        prop_assert_eq!(has("MISSING_DELIVERY_ADDRESS"), content.delivery_address.is_none());
        prop_assert_eq!(has("POSSIBLE_DUPLICATE"), !ctx.same_po_orders.is_empty());
        let off_list = content.lines.iter().any(|l| {
            l.discount.get().is_zero()
                && l.unit_price != ctx.products[&l.product_id].list_price.amount()
        });
        prop_assert_eq!(has("PRICE_NOT_LIST"), off_list);
    }

    /// Switching a rule off removes exactly its findings; the others are untouched.
    #[test]
    fn switching_a_rule_off_removes_only_its_findings(
        (content, ctx) in arb_case(),
        rule in prop::sample::select(RuleCode::ALL.to_vec()),
    ) {
        let all = run(&content, &ctx);
        let mut policy = ReviewPolicy::default();
        policy.set_severity(rule, None);
        let without = evaluate(eur(), &content, &ctx, &policy);
        let expected: Vec<Finding> = all.into_iter().filter(|f| f.code != rule.as_str()).collect();
        prop_assert_eq!(without, expected);
    }

    /// Making any rule stricter never lets an order land in a better place.
    #[test]
    fn a_stricter_policy_never_improves_the_outcome(
        (content, ctx) in arb_case(),
        levels in prop::collection::vec(severity(), RuleCode::ALL.len()),
        rule in prop::sample::select(RuleCode::ALL.to_vec()),
    ) {
        let mut policy = ReviewPolicy::default();
        for (code, level) in RuleCode::ALL.into_iter().zip(levels) {
            policy.set_severity(code, level);
        }
        let rank = |s: OrderStatus| match s {
            OrderStatus::Approved => 0,
            OrderStatus::PendingApproval => 1,
            _ => 2,
        };
        let before = outcome_of(&evaluate(eur(), &content, &ctx, &policy));
        policy.set_severity(rule, Some(Severity::Blocker));
        let after = outcome_of(&evaluate(eur(), &content, &ctx, &policy));
        prop_assert!(rank(after) >= rank(before));
    }
}
