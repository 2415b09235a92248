//! The scale data set of issue 8 (`orderdesk seed --orders N`): a larger sales team, customers,
//! products and N orders whose histories are decided by the same pure domain functions the
//! service uses (`decide`, review, invoicing, payments, exceptions), collected in memory and
//! written in batches by `Store::bulk_insert`.
//!
//! Deterministic: the same seed, order count and `until` instant give the same rows. Nothing
//! reads the clock: orders are created over the two years before `until`, and each step of an
//! order's life happens only if its time is before `until`, so old orders are completed (or
//! cancelled, or still unpaid) and recent ones form the open pipeline.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use domain::catalog::{Customer, CustomerProfile, PaymentTerms, Product, ProductDetails, Sku};
use domain::lifecycle::{OrderCommand, OrderStatus, decide};
use domain::money::{Currency, Money};
use domain::order::{
    Confirmation, ConfirmationChannel, LineInput, NewOrder, Order, OrderContent, build_lines,
    creation_events,
};
use domain::ports::{CustomerRepository, ProductRepository, UserRepository};
use domain::review::{CreditPosition, ProductFacts, ReviewContext, ReviewPolicy, evaluate};
use domain::settlement::{Invoice, NewPayment, PaymentMethod, check_payment, plan_invoice};
use domain::tracking::{
    ExceptionKind, NewException, OrderException, Severity, raise_exception, resolve_exception,
    update_exception,
};
use domain::user::{Actor, Email, NewUser, Role, User};
use domain::{OrderId, ProductId, UserId};
use persistence::{BulkEvent, BulkIds, BulkOrder, Store, invoice_number, order_number};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use crate::app::CliResult;
use crate::service::settlement::settle;

/// Orders per transaction: large enough to amortise commits, small enough to keep memory flat.
const BATCH: usize = 5_000;
/// Progress is printed every this many orders.
const PROGRESS_EVERY: u64 = 100_000;
/// The history covers this many days before `until`.
const HISTORY_DAYS: i64 = 730;

/// The sales organisation and catalogue the orders are drawn from.
struct World {
    eur: Currency,
    reps: Vec<User>,
    manager_of: HashMap<UserId, User>,
    customers: Vec<Customer>,
    products: HashMap<ProductId, Product>,
    product_ids: Vec<ProductId>,
}

/// Adds a team, customers, products and `orders` generated orders to a database that holds the
/// demo data set. Prints progress every 100,000 orders and the total time.
///
/// # Errors
/// A message when a write fails or a generated history is refused by the domain (a bug).
pub async fn load(
    store: &Store,
    orders: u64,
    seed: u64,
    until: DateTime<Utc>,
    password_hash: &str,
) -> CliResult<()> {
    let started = Instant::now();
    // A stream of its own, so the demo part and the bulk part do not shift each other.
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xB01C);
    let world = build_world(store, &mut rng, orders, until, password_hash).await?;
    eprintln!(
        "seed: {} reps, {} customers, {} products in {:.1?}; generating {orders} orders until {until}",
        world.reps.len(),
        world.customers.len(),
        world.products.len(),
        started.elapsed()
    );
    let ids = store.bulk_ids().await.map_err(|e| e.to_string())?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<BulkOrder>>(2);
    // Generation (CPU) on a blocking thread, writing (database) here: the two overlap.
    let generator = tokio::task::spawn_blocking(move || -> CliResult<()> {
        let mut ids = ids;
        let mut batch = Vec::with_capacity(BATCH);
        for i in 0..orders {
            let created = created_at(&mut rng, i, orders, until);
            batch.push(one_order(&world, &mut rng, &mut ids, created, until)?);
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if tx.blocking_send(full).is_err() {
                    return Ok(()); // the writer failed and says why
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
        Ok(())
    });
    let mut written: u64 = 0;
    while let Some(batch) = rx.recv().await {
        store
            .bulk_insert(&batch)
            .await
            .map_err(|e| format!("bulk insert after {written} orders: {e}"))?;
        let before = written;
        written += batch.len() as u64;
        if written / PROGRESS_EVERY > before / PROGRESS_EVERY || written == orders {
            eprintln!("seed: {written} orders written ({:.1?})", started.elapsed());
        }
    }
    generator
        .await
        .map_err(|e| format!("generator stopped: {e}"))??;
    if written != orders {
        return Err(format!("only {written} of {orders} orders were written"));
    }
    eprintln!(
        "seed: {orders} generated orders loaded in {:.1?}",
        started.elapsed()
    );
    Ok(())
}

/// Managers, reps, customers and products, created through the normal repositories.
async fn build_world(
    store: &Store,
    rng: &mut StdRng,
    orders: u64,
    until: DateTime<Utc>,
    password_hash: &str,
) -> CliResult<World> {
    let err = |e: domain::ports::RepoError| e.to_string();
    let eur = Currency::parse("EUR").map_err(|e| e.to_string())?;
    let since = until - Duration::days(HISTORY_DAYS + 90);
    let user = |email: String, name: String, role, manager, authority: i64| -> CliResult<NewUser> {
        Ok(NewUser {
            email: Email::parse(&email).map_err(|e| e.to_string())?,
            name,
            role,
            manager_id: manager,
            customer_id: None,
            discount_authority: Decimal::from(authority),
            password_hash: Some(password_hash.to_owned()),
        })
    };
    let mut managers = Vec::new();
    for m in 1..=5 {
        managers.push(
            store
                .create_user(user(
                    format!("manager{m:02}@orderdesk.test"),
                    format!("{} {}", FIRST[m % FIRST.len()], LAST[(m * 7) % LAST.len()]),
                    Role::Manager,
                    None,
                    25,
                )?)
                .await
                .map_err(err)?,
        );
    }
    let mut reps = Vec::new();
    let mut manager_of = HashMap::new();
    for r in 1..=40 {
        let manager = &managers[r % managers.len()];
        let rep = store
            .create_user(user(
                format!("rep{r:02}@orderdesk.test"),
                format!("{} {}", FIRST[(r * 3) % FIRST.len()], LAST[r % LAST.len()]),
                Role::Sales,
                Some(manager.id),
                [5, 10, 10, 15, 20][r % 5],
            )?)
            .await
            .map_err(err)?;
        manager_of.insert(rep.id, manager.clone());
        reps.push(rep);
    }

    let product_count = (orders / 1_000).clamp(50, 1_000) as usize;
    let mut products = HashMap::new();
    let mut product_ids = Vec::new();
    for p in 0..product_count {
        let price = Decimal::new(rng.random_range(100..50_000), 2);
        let details = ProductDetails {
            sku: Sku::parse(&format!("GEN-{:05}", p + 1)).map_err(|e| e.to_string())?,
            name: format!(
                "{} {}",
                MATERIALS[p % MATERIALS.len()],
                ITEMS[(p / MATERIALS.len()) % ITEMS.len()]
            ),
            unit: ["pcs", "box", "m", "kg", "roll"][p % 5].to_owned(),
            list_price: Money::new(price, eur).map_err(|e| e.to_string())?,
            lead_time_days: rng.random_range(2..=35),
            active: true,
            unit_cost: Some((price * Decimal::new(rng.random_range(50..=75), 2)).round_dp(2)),
        };
        let product = store.create_product(details, since).await.map_err(err)?;
        product_ids.push(product.id);
        products.insert(product.id, product);
    }

    let customer_count = (orders / 100).clamp(50, 10_000) as usize;
    let mut customers = Vec::with_capacity(customer_count);
    for c in 0..customer_count {
        let name = format!(
            "{} {} {}",
            PREFIX[c % PREFIX.len()],
            CORE[(c / PREFIX.len()) % CORE.len()],
            SUFFIX[(c / (PREFIX.len() * CORE.len())) % SUFFIX.len()]
        );
        let slug = format!("c{:05}", c + 1);
        let profile = CustomerProfile {
            name,
            email: Some(format!("purchasing@{slug}.test")),
            phone: Some(format!("+49 40 {:07}", 3_000_000 + c)),
            address: Some(format!(
                "Werkstrasse {}, {} Hamburg",
                1 + c % 200,
                20_000 + c % 999
            )),
            owner_rep_id: reps[rng.random_range(0..reps.len())].id,
            tier: Some(["A", "B", "B", "C", "C"][c % 5].to_owned()),
            tags: vec![["wholesale", "retail", "export", "key-account"][c % 4].to_owned()],
            currency: eur,
            credit_limit: Decimal::from(rng.random_range(2..=40) * 25_000),
            payment_terms: [
                PaymentTerms::Net(14),
                PaymentTerms::Net(30),
                PaymentTerms::Net(30),
                PaymentTerms::Net(45),
                PaymentTerms::Net(60),
            ][rng.random_range(0..5)],
            contacts: Vec::new(),
            addresses: Vec::new(),
            preferences: domain::catalog::Preferences::default(),
        };
        customers.push(store.create_customer(profile, since).await.map_err(err)?);
    }
    Ok(World {
        eur,
        reps,
        manager_of,
        customers,
        products,
        product_ids,
    })
}

/// One order's history under construction: the order as it stands and what it produced.
struct History {
    order: Order,
    events: Vec<BulkEvent>,
    invoices: Vec<Invoice>,
    payments: Vec<domain::settlement::Payment>,
    exceptions: Vec<OrderException>,
}

impl History {
    /// Adopts the order after a change and records its events at the new version.
    fn record(
        &mut self,
        next: Order,
        events: Vec<domain::event::OrderEventKind>,
        by: &User,
        at: DateTime<Utc>,
    ) {
        for kind in events {
            self.events.push(BulkEvent {
                kind,
                order_version: next.version,
                actor_id: by.id,
                at,
            });
        }
        self.order = next;
    }

    /// A lifecycle command through `decide`, as `OrderService` runs it.
    fn command(&mut self, command: OrderCommand, by: &User, at: DateTime<Utc>) -> CliResult<()> {
        let actor = Actor {
            user_id: by.id,
            role: by.role,
            customer_id: None,
        };
        let decision = decide(&self.order, command, &actor, at)
            .map_err(|e| format!("{}: {e}", self.order.number))?;
        self.record(decision.order, decision.events, by, at);
        Ok(())
    }

    fn move_to(&mut self, to: OrderStatus, by: &User, at: DateTime<Utc>) -> CliResult<()> {
        let command = OrderCommand::to_status(&self.order, to, None).map_err(|e| e.to_string())?;
        self.command(command, by, at)
    }

    /// The change's version bump for records that do not go through `decide`.
    fn bumped(&self, at: DateTime<Utc>) -> Order {
        let mut next = self.order.clone();
        next.version += 1;
        next.updated_at = at;
        next
    }
}

/// A random instant `lo..hi` hours after `at`.
fn after(rng: &mut StdRng, at: DateTime<Utc>, lo: i64, hi: i64) -> DateTime<Utc> {
    at + Duration::minutes(rng.random_range(lo * 60..hi * 60))
}

/// When the `i`-th of `n` orders was created: evenly spread over the history with some jitter,
/// never earlier than the one before, so ids follow creation as they do in a live database (and
/// the time indexes are appended to rather than written all over).
fn created_at(rng: &mut StdRng, i: u64, n: u64, until: DateTime<Utc>) -> DateTime<Utc> {
    let span = HISTORY_DAYS * 86_400;
    let step = (span / i64::try_from(n.max(1)).unwrap_or(i64::MAX)).max(1);
    let slot = i64::try_from(i).unwrap_or(i64::MAX).saturating_mul(step);
    until - Duration::seconds(span) + Duration::seconds(slot + rng.random_range(0..step))
}

/// Generates one order created at `created` and its whole history up to `until`.
fn one_order(
    world: &World,
    rng: &mut StdRng,
    ids: &mut BulkIds,
    created: DateTime<Utc>,
    until: DateTime<Utc>,
) -> CliResult<BulkOrder> {
    let customer = &world.customers[rng.random_range(0..world.customers.len())];
    let rep = world
        .reps
        .iter()
        .find(|r| r.id == customer.profile.owner_rep_id)
        .ok_or("customer without rep")?;
    let manager = &world.manager_of[&rep.id];
    let line_count = rng.random_range(1..=7);
    let mut inputs: Vec<LineInput> = Vec::with_capacity(line_count);
    while inputs.len() < line_count {
        let product_id = world.product_ids[rng.random_range(0..world.product_ids.len())];
        if inputs.iter().any(|l| l.product_id == product_id) {
            continue;
        }
        inputs.push(LineInput {
            product_id,
            quantity: Decimal::from(rng.random_range(1..=60)),
            unit_price: None,
            discount_percent: Some(Decimal::from(
                [0, 0, 0, 0, 0, 5, 10, 15, 20][rng.random_range(0..9)],
            )),
        });
    }
    let content = OrderContent {
        lines: build_lines(&inputs, &world.products, world.eur).map_err(|e| e.to_string())?,
        requested_date: Some((created + Duration::days(rng.random_range(14..60))).date_naive()),
        delivery_address: customer.profile.address.clone(),
        payment_terms: customer.profile.payment_terms,
        customer_po: Some(format!("PO-{}-{}", customer.id.0, ids.order_number)),
        notes: None,
    };
    let order = NewOrder {
        customer_id: customer.id,
        sales_rep_id: rep.id,
        currency: world.eur,
        content,
        created_at: created,
    }
    .into_draft(OrderId(ids.order_id), order_number(ids.order_number));
    ids.order_id += 1;
    ids.order_number += 1;
    let mut h = History {
        events: Vec::new(),
        invoices: Vec::new(),
        payments: Vec::new(),
        exceptions: Vec::new(),
        order,
    };
    let first = creation_events(&h.order);
    let order = h.order.clone();
    h.record(order, first, rep, created);
    life(world, rng, ids, until, &mut h, rep, manager)?;
    Ok(BulkOrder {
        order: h.order,
        events: h.events,
        invoices: h.invoices,
        payments: h.payments,
        exceptions: h.exceptions,
    })
}

/// Walks the order through its life while its steps fall before `until`.
#[allow(clippy::too_many_lines)]
fn life(
    world: &World,
    rng: &mut StdRng,
    ids: &mut BulkIds,
    until: DateTime<Utc>,
    h: &mut History,
    rep: &User,
    manager: &User,
) -> CliResult<()> {
    use OrderStatus as S;
    let fate: f64 = rng.random();
    let cancel_early = fate < 0.03;
    let cancel_late = (0.03..0.045).contains(&fate);
    let hold = (0.045..0.085).contains(&fate);
    let revise_first = rng.random_bool(0.06);
    let exception = rng.random_bool(0.07);
    let stock = rng.random_bool(0.3);

    // Submit (a first attempt without a delivery date sends some back for revision).
    let mut at = after(rng, h.order.created_at, 1, 48);
    if at > until {
        return Ok(());
    }
    if revise_first {
        let findings = vec![domain::review::Finding {
            code: "MISSING_REQUESTED_DATE".into(),
            severity: domain::review::Severity::Blocker,
            message: "customer has not given a delivery date".into(),
            line_no: None,
        }];
        h.command(OrderCommand::Submit { findings }, rep, at)?;
        at = after(rng, at, 2, 72);
        if at > until {
            return Ok(());
        }
    }
    let facts = h
        .order
        .content
        .lines
        .iter()
        .map(|l| {
            let p = &world.products[&l.product_id];
            (
                l.product_id,
                ProductFacts {
                    list_price: p.details.list_price,
                    lead_time_days: p.details.lead_time_days,
                },
            )
        })
        .collect();
    // As the demo does: the history is reviewed as of its own day, credit and duplicate
    // checks are left to the live server.
    let mut findings = evaluate(
        h.order.currency,
        &h.order.content,
        &ReviewContext {
            today: at.date_naive(),
            discount_authority: rep.discount_authority,
            products: facts,
            credit: CreditPosition {
                limit: Money::new(domain::money::max_amount(), h.order.currency)
                    .map_err(|e| e.to_string())?,
                open_receivables: Decimal::ZERO,
                unbilled_confirmed: Decimal::ZERO,
            },
            same_po_orders: Vec::new(),
        },
        &ReviewPolicy::default(),
    );
    findings.retain(|f| f.severity != domain::review::Severity::Blocker);
    h.command(OrderCommand::Submit { findings }, rep, at)?;
    if h.order.status == S::PendingApproval {
        at = after(rng, at, 1, 30);
        if at > until {
            return Ok(());
        }
        h.command(
            OrderCommand::Approve {
                comment: Some("agreed with the customer".into()),
            },
            manager,
            at,
        )?;
    }

    // The customer confirms (or walks away).
    at = after(rng, at, 4, 120);
    if at > until {
        return Ok(());
    }
    if cancel_early {
        let reason = [
            "customer chose another supplier",
            "budget frozen",
            "duplicate enquiry",
        ][rng.random_range(0..3)];
        return h.command(
            OrderCommand::Cancel {
                reason: reason.into(),
            },
            rep,
            at,
        );
    }
    let channel = [
        ConfirmationChannel::Email,
        ConfirmationChannel::Email,
        ConfirmationChannel::Phone,
        ConfirmationChannel::Wechat,
        ConfirmationChannel::Portal,
        ConfirmationChannel::Meeting,
    ][rng.random_range(0..6)];
    h.command(
        OrderCommand::Confirm(Confirmation {
            confirmed_by: "Purchasing".into(),
            channel,
            reference: Some(format!("re {}", h.order.number)),
            confirmed_at: at,
            promised_date: h.order.content.requested_date,
        }),
        rep,
        at,
    )?;

    // Production, with the odd exception and hold.
    if stock {
        at = after(rng, at, 6, 48);
        if at > until {
            return Ok(());
        }
    } else {
        at = after(rng, at, 12, 96);
        if at > until {
            return Ok(());
        }
        h.move_to(S::InProduction, rep, at)?;
        if exception {
            at = after(rng, at, 12, 96);
            if at > until {
                return Ok(());
            }
            at = raise(rng, ids, until, h, rep, at)?;
            if at > until {
                return Ok(());
            }
        }
        if hold {
            at = after(rng, at, 12, 120);
            if at > until {
                return Ok(());
            }
            h.command(
                OrderCommand::Hold {
                    reason: "awaiting the customer's artwork".into(),
                },
                rep,
                at,
            )?;
            at = after(rng, at, 48, 480);
            if at > until {
                return Ok(());
            }
            h.command(OrderCommand::Resume, rep, at)?;
        }
        at = after(rng, at, 48, 336);
        if at > until {
            return Ok(());
        }
    }
    h.move_to(S::ReadyToShip, rep, at)?;
    if cancel_late {
        at = after(rng, at, 2, 96);
        if at > until {
            return Ok(());
        }
        return h.command(
            OrderCommand::Cancel {
                reason: "customer's project was cancelled".into(),
            },
            manager,
            at,
        );
    }

    // Invoiced as it ships, then delivered.
    at = after(rng, at, 6, 72);
    if at > until {
        return Ok(());
    }
    issue_invoice(h, ids, rep, at)?;
    h.move_to(S::Shipped, rep, at)?;
    at = after(rng, at, 24, 168);
    if at > until {
        return Ok(());
    }
    h.move_to(S::Delivered, rep, at)?;

    // Paid around the due date: most on time or a little late, some in two parts, a few never.
    let behaviour: f64 = rng.random();
    if behaviour < 0.04 {
        return Ok(());
    }
    let due = h.invoices[0].details.due_on;
    let due_at = due.and_hms_opt(10, 0, 0).ok_or("due date")?.and_utc();
    let late_days = if behaviour < 0.7 {
        rng.random_range(-20..=2)
    } else {
        rng.random_range(0..=60)
    };
    let pay_at = (due_at + Duration::days(late_days)).max(after(rng, at, 1, 48));
    let outstanding = h.invoices[0].outstanding();
    if behaviour < 0.12 {
        let part = (outstanding * Decimal::new(rng.random_range(30..=70), 2)).round_dp(2);
        if pay_at > until {
            return Ok(());
        }
        pay(rng, h, ids, rep, part, pay_at)?;
        let rest_at = after(rng, pay_at, 24 * 7, 24 * 75);
        if rest_at > until {
            return Ok(());
        }
        let rest = h.invoices[0].outstanding();
        pay(rng, h, ids, rep, rest, rest_at)
    } else {
        if pay_at > until {
            return Ok(());
        }
        pay(rng, h, ids, rep, outstanding, pay_at)
    }
}

/// Raises an exception during production, analyses and (mostly) resolves it; returns when the
/// last of that happened.
fn raise(
    rng: &mut StdRng,
    ids: &mut BulkIds,
    until: DateTime<Utc>,
    h: &mut History,
    rep: &User,
    mut at: DateTime<Utc>,
) -> CliResult<DateTime<Utc>> {
    let (kind, cause, lesson) = EXCEPTIONS[rng.random_range(0..EXCEPTIONS.len())];
    let mut next = h.bumped(at);
    let (details, events) = raise_exception(
        &mut next,
        NewException {
            order_id: h.order.id,
            customer_id: h.order.customer_id,
            sales_rep_id: h.order.sales_rep_id,
            kind,
            severity: [
                Severity::Low,
                Severity::Medium,
                Severity::Medium,
                Severity::High,
            ][rng.random_range(0..4)],
            description: format!("{} on {}", kind.as_str().to_lowercase(), h.order.number),
            cost_impact: Decimal::new(rng.random_range(0..200_000), 2),
            currency: h.order.currency,
            delay_days: rng.random_range(0..=12),
            held_order: false,
            raised_by: rep.id,
            raised_at: at,
        },
        at.date_naive(),
    )
    .map_err(|e| format!("{}: {e}", h.order.number))?;
    h.record(next, events, rep, at);
    let mut exception = OrderException::open(ids.exception_id, details);
    ids.exception_id += 1;
    // The raised event carries the id storage assigns; here it is known up front.
    for event in h.events.iter_mut().rev() {
        if let domain::event::OrderEventKind::ExceptionRaised { exception_id, .. } = &mut event.kind
        {
            *exception_id = exception.id;
            break;
        }
    }
    if rng.random_bool(0.75) {
        let analysed_at = after(rng, at, 4, 72);
        if analysed_at <= until {
            at = analysed_at;
            let (updated, event) = update_exception(
                &h.order,
                &exception,
                Some(cause.to_owned()),
                Some("supplier and planner informed".to_owned()),
            )
            .map_err(|e| e.to_string())?;
            exception = updated;
            let next = h.bumped(at);
            h.record(next, vec![event], rep, at);
            let resolved_at = after(rng, at, 12, 240);
            if rng.random_bool(0.8) && resolved_at <= until {
                at = resolved_at;
                let (resolved, event) = resolve_exception(
                    &h.order,
                    &exception,
                    "handled with the customer",
                    rng.random_bool(0.7).then_some(lesson),
                    rep.id,
                    at,
                )
                .map_err(|e| e.to_string())?;
                exception = resolved;
                let next = h.bumped(at);
                h.record(next, vec![event], rep, at);
            }
        }
    }
    h.exceptions.push(exception);
    Ok(at)
}

/// Issues one invoice for everything, as `issueInvoice` does (`settle` and all).
fn issue_invoice(
    h: &mut History,
    ids: &mut BulkIds,
    rep: &User,
    at: DateTime<Utc>,
) -> CliResult<()> {
    let planned = plan_invoice(&h.order, &h.invoices, None, at.date_naive())
        .map_err(|e| format!("{}: {e}", h.order.number))?;
    let invoice = Invoice {
        id: ids.invoice_id,
        number: invoice_number(ids.invoice_number),
        details: planned,
        paid: Decimal::ZERO,
        fully_paid_on: None,
        void_reason: None,
        created_at: at,
    };
    ids.invoice_id += 1;
    ids.invoice_number += 1;
    h.invoices.push(invoice.clone());
    let (next, mut events) = settle(&h.order, &h.invoices, at);
    events.insert(
        0,
        domain::event::OrderEventKind::InvoiceIssued {
            invoice_id: invoice.id,
            number: invoice.number.clone(),
            kind: invoice.details.kind,
            amount: invoice.details.amount,
            currency: invoice.details.currency,
            due_on: invoice.details.due_on,
        },
    );
    h.record(next, events, rep, at);
    Ok(())
}

/// Records a payment on the order's invoice, as `recordPayment` does.
fn pay(
    rng: &mut StdRng,
    h: &mut History,
    ids: &mut BulkIds,
    rep: &User,
    amount: Decimal,
    at: DateTime<Utc>,
) -> CliResult<()> {
    let invoice = h.invoices[0].clone();
    let method = [
        PaymentMethod::BankTransfer,
        PaymentMethod::BankTransfer,
        PaymentMethod::BankTransfer,
        PaymentMethod::Card,
        PaymentMethod::WechatPay,
    ][rng.random_range(0..5)];
    let payment = check_payment(
        &invoice,
        NewPayment {
            invoice_id: invoice.id,
            amount,
            method,
            reference: Some(format!("TX{}", ids.payment_id)),
            received_at: at,
            recorded_by: rep.id,
        },
        at,
    )
    .map_err(|e| format!("{}: {e}", h.order.number))?;
    let mut paid = invoice;
    paid.paid += payment.amount;
    if paid.outstanding().is_zero() {
        paid.fully_paid_on = Some(payment.received_at.date_naive());
    }
    h.invoices[0] = paid.clone();
    let (next, mut events) = settle(&h.order, &h.invoices, at);
    events.insert(
        0,
        domain::event::OrderEventKind::PaymentRecorded {
            invoice_id: paid.id,
            invoice_number: paid.number.clone(),
            payment_id: ids.payment_id,
            amount: payment.amount,
            method: payment.method,
            reference: payment.reference.clone(),
            received_at: payment.received_at,
            invoice_outstanding: paid.outstanding(),
        },
    );
    h.payments.push(domain::settlement::Payment {
        id: ids.payment_id,
        details: payment,
        created_at: at,
    });
    ids.payment_id += 1;
    h.record(next, events, rep, at);
    Ok(())
}

const FIRST: [&str; 12] = [
    "Anna", "Ben", "Chen", "Dana", "Emil", "Farah", "Goran", "Hana", "Ivo", "Jana", "Karl", "Lena",
];
const LAST: [&str; 10] = [
    "Berger", "Costa", "Dietz", "Engel", "Fischer", "Gruber", "Huber", "Lang", "Meyer", "Novak",
];
const PREFIX: [&str; 10] = [
    "Nord", "Sued", "West", "Ost", "Alpen", "Rhein", "Elbe", "Main", "Hansa", "Ruhr",
];
const CORE: [&str; 25] = [
    "Metall",
    "Bau",
    "Technik",
    "Logistik",
    "Handel",
    "Werkzeug",
    "Elektro",
    "Holz",
    "Glas",
    "Kunststoff",
    "Papier",
    "Textil",
    "Chemie",
    "Agrar",
    "Energie",
    "Medizin",
    "Optik",
    "Druck",
    "Lack",
    "Stahl",
    "Kabel",
    "Pumpen",
    "Motoren",
    "Sensor",
    "Foerder",
];
const SUFFIX: [&str; 40] = [
    "GmbH",
    "AG",
    "KG",
    "GmbH & Co. KG",
    "OHG",
    "eG",
    "SE",
    "Werke",
    "Gruppe",
    "Partner",
    "Service",
    "Systeme",
    "Vertrieb",
    "Industrie",
    "Union",
    "Zentrale",
    "Kontor",
    "Haus",
    "Markt",
    "Depot",
    "Lager",
    "Fabrik",
    "Bedarf",
    "Versand",
    "Direkt",
    "Profi",
    "Plus",
    "Team",
    "Welt",
    "Land",
    "Stadt",
    "Hof",
    "Werk",
    "Netz",
    "Punkt",
    "Quelle",
    "Forum",
    "Studio",
    "Atelier",
    "Manufaktur",
];
const MATERIALS: [&str; 20] = [
    "Steel",
    "Aluminium",
    "Copper",
    "Brass",
    "Oak",
    "Beech",
    "Rubber",
    "Nylon",
    "PVC",
    "Glass",
    "Ceramic",
    "Carbon",
    "Titanium",
    "Zinc",
    "Stainless",
    "Galvanised",
    "Cast iron",
    "Bamboo",
    "Felt",
    "Cork",
];
const ITEMS: [&str; 50] = [
    "bracket", "profile", "bolt", "panel", "wire", "gloves", "hinge", "plate", "tray", "hose",
    "bearing", "belt", "relay", "pipe", "foam", "pallet", "film", "fan", "valve", "seal kit",
    "sheet", "rod", "breaker", "display", "motor", "cable", "filter", "washer", "crate", "ribbon",
    "clamp", "spring", "gasket", "flange", "nozzle", "pulley", "sprocket", "chain", "caster",
    "handle", "knob", "lock", "latch", "rail", "shelf", "bin", "cover", "cap", "ring", "tube",
];

/// Exception kinds with a typical root cause and lesson: the Pareto has a few big causes.
const EXCEPTIONS: [(ExceptionKind, &str, &str); 10] = [
    (
        ExceptionKind::Delay,
        "supplier capacity",
        "book supplier capacity at confirmation",
    ),
    (
        ExceptionKind::Delay,
        "supplier capacity",
        "keep a second supplier qualified",
    ),
    (
        ExceptionKind::Delay,
        "machine breakdown",
        "schedule preventive maintenance",
    ),
    (
        ExceptionKind::Quality,
        "wrong material batch",
        "check certificates on receipt",
    ),
    (
        ExceptionKind::Quality,
        "tolerance out of spec",
        "first-article inspection",
    ),
    (
        ExceptionKind::Shortage,
        "forecast too low",
        "review safety stock monthly",
    ),
    (
        ExceptionKind::Logistics,
        "carrier missed pickup",
        "confirm pickups the day before",
    ),
    (
        ExceptionKind::Logistics,
        "customs documents incomplete",
        "checklist for export papers",
    ),
    (
        ExceptionKind::CustomerChange,
        "late drawing change",
        "freeze drawings at confirmation",
    ),
    (
        ExceptionKind::Other,
        "unclear requirement",
        "write down the agreed specification",
    ),
];
