//! Demo data: a small sales team with customers, products and ~200 orders in every status,
//! driven through the real domain commands so every order has a true event history; and, with
//! `--orders N`, the scale data set on top of it (`bulk`).

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use domain::catalog::{Customer, CustomerProfile, PaymentTerms, Product, ProductDetails, Sku};
use domain::lifecycle::{OrderCommand, OrderStatus, PaymentStatus, decide};
use domain::money::{Currency, Money};
use domain::order::{
    Confirmation, ConfirmationChannel, LineInput, NewOrder, OrderContent, build_lines,
};
use domain::ports::{
    CustomerRepository, OrderChange, OrderRepository, ProductRepository, UserRepository,
};
use domain::review::{CreditPosition, ProductFacts, ReviewContext, ReviewPolicy, evaluate};
use domain::user::{Actor, Email, NewUser, Role, User};
use domain::{ProductId, UserId};
use persistence::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use crate::app::{CliResult, connect};
use crate::cli::SeedArgs;
use crate::service::hash_password;

mod bulk;

/// Password of every demo user (listed in the README).
pub const DEMO_PASSWORD: &str = "orderdesk-demo";

/// `orderdesk seed`.
pub async fn run(args: SeedArgs) -> CliResult<()> {
    if !args.demo && args.orders.is_none() {
        return Err("nothing to do: pass --demo or --orders N".into());
    }
    let mut db = args.db.clone();
    if args.orders.is_some() {
        // A generated data set can be generated again: WAL with synchronous=NORMAL (still
        // crash-safe, only a power cut may lose the last commits) for this process only.
        db.sqlite_synchronous = "normal".into();
    }
    let store = connect(&db).await?;
    store
        .migrate()
        .await
        .map_err(|e| format!("migration failed: {e}"))?;
    let until = match args.orders {
        Some(_) => parse_until(&args.until)?,
        None => Utc::now(),
    };
    if !demo_if_empty_at(&store, args.seed, until).await? {
        return Err("the database already has users; demo data goes into an empty database".into());
    }
    if let Some(orders) = args.orders {
        let hash = hash_password(DEMO_PASSWORD)?;
        bulk::load(&store, orders, args.seed, until, &hash).await?;
    }
    store.close().await;
    Ok(())
}

/// `--until`: an RFC 3339 instant or a date (midnight UTC).
fn parse_until(text: &str) -> CliResult<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| format!("--until {text}: expected an RFC 3339 instant or YYYY-MM-DD"))
}

/// Loads the demo data set unless the database already has users. Returns whether it loaded.
pub async fn demo_if_empty(store: &Store, seed: u64) -> CliResult<bool> {
    demo_if_empty_at(store, seed, Utc::now()).await
}

/// [`demo_if_empty`] with its history ending at `now` (the bulk seeder passes its fixed
/// `--until`, so the whole data set is reproducible).
pub async fn demo_if_empty_at(store: &Store, seed: u64, now: DateTime<Utc>) -> CliResult<bool> {
    let admin_email = Email::parse("admin@orderdesk.test").map_err(|e| e.to_string())?;
    if store
        .user_by_email(&admin_email)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Ok(false);
    }
    let started = std::time::Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let hash = hash_password(DEMO_PASSWORD)?;
    let user =
        |email: &str, name: &str, role: Role, manager: Option<UserId>, authority: i64| NewUser {
            email: Email::parse(email).expect("demo e-mail"),
            name: name.to_owned(),
            role,
            manager_id: manager,
            customer_id: None,
            discount_authority: Decimal::from(authority),
            password_hash: Some(hash.clone()),
        };
    let err = |e: domain::ports::RepoError| e.to_string();
    let admin = store
        .create_user(user(
            "admin@orderdesk.test",
            "Ada Admin",
            Role::Admin,
            None,
            100,
        ))
        .await
        .map_err(err)?;
    let manager = store
        .create_user(user(
            "mia.manager@orderdesk.test",
            "Mia Manager",
            Role::Manager,
            None,
            25,
        ))
        .await
        .map_err(err)?;
    let mut reps = Vec::new();
    for (email, name, authority) in [
        ("rob.rep@orderdesk.test", "Rob Rep", 10),
        ("sara.sales@orderdesk.test", "Sara Sales", 15),
        ("tom.trader@orderdesk.test", "Tom Trader", 5),
    ] {
        reps.push(
            store
                .create_user(user(email, name, Role::Sales, Some(manager.id), authority))
                .await
                .map_err(err)?,
        );
    }

    let eur = Currency::parse("EUR").map_err(|e| e.to_string())?;
    let mut customers: Vec<Customer> = Vec::new();
    for (i, name) in COMPANIES.iter().enumerate() {
        let terms = match i % 4 {
            0 => PaymentTerms::Net(30),
            1 => PaymentTerms::Net(60),
            2 => PaymentTerms::Deposit {
                percent: 30,
                net_days: 30,
            },
            _ => PaymentTerms::Prepaid,
        };
        let profile = CustomerProfile {
            name: (*name).to_owned(),
            email: Some(format!("purchasing@{}.test", slug(name))),
            phone: Some(format!("+49 30 {:07}", 1_000_000 + i * 7919)),
            address: Some(format!(
                "{} Industriestrasse, {} Berlin",
                10 + i,
                10_100 + i
            )),
            owner_rep_id: reps[i % reps.len()].id,
            tier: Some(["A", "B", "C"][i % 3].to_owned()),
            tags: vec![["wholesale", "retail", "export", "key-account"][i % 4].to_owned()],
            currency: eur,
            credit_limit: Decimal::from(20_000 + (i as i64 % 5) * 15_000),
            payment_terms: terms,
            contacts: vec![domain::catalog::Contact {
                name: ["Anna Weber", "Li Wei", "Jonas Berg", "Maria Costa"][i % 4].to_owned(),
                role: Some("Purchasing".to_owned()),
                phone: Some(format!("+49 30 {:07}", 2_000_000 + i * 7919)),
                email: Some(format!("buyer@{}.test", slug(name))),
                wechat_id: (i % 3 == 0).then(|| format!("wx_{}", slug(name))),
            }],
            addresses: vec![domain::catalog::CustomerAddress {
                label: "Warehouse".to_owned(),
                address: format!("Hafenweg {}, 20457 Hamburg", 3 + i),
            }],
            preferences: domain::catalog::Preferences {
                notes: (i % 2 == 0).then(|| "Prefers deliveries before noon.".to_owned()),
                preferred_product_ids: Vec::new(),
                preferred_channel: Some(
                    [
                        domain::archive::Channel::Email,
                        domain::archive::Channel::Phone,
                        domain::archive::Channel::Wechat,
                    ][i % 3],
                ),
            },
        };
        customers.push(
            store
                .create_customer(profile, now - Duration::days(400))
                .await
                .map_err(err)?,
        );
    }
    store
        .create_user(NewUser {
            customer_id: Some(customers[0].id),
            ..user(
                "buyer@northwind.test",
                "Nora Buyer",
                Role::Customer,
                None,
                0,
            )
        })
        .await
        .map_err(err)?;

    let mut products: HashMap<ProductId, Product> = HashMap::new();
    for (i, (name, unit, price, lead)) in PRODUCTS.iter().enumerate() {
        let details = ProductDetails {
            sku: Sku::parse(&format!("{}-{:03}", &slug(name)[..3].to_uppercase(), i + 1))
                .map_err(|e| e.to_string())?,
            name: (*name).to_owned(),
            unit: (*unit).to_owned(),
            list_price: Money::new(Decimal::from_str(price).map_err(|e| e.to_string())?, eur)
                .map_err(|e| e.to_string())?,
            lead_time_days: *lead,
            active: true,
            // Demo costs: 55-70% of list, so margins are plausible.
            unit_cost: Some(
                (Decimal::from_str(price).map_err(|e| e.to_string())?
                    * Decimal::new(55 + (i as i64 % 4) * 5, 2))
                .round_dp(2),
            ),
        };
        let product = store
            .create_product(details, now - Duration::days(400))
            .await
            .map_err(err)?;
        products.insert(product.id, product);
    }
    let product_ids: Vec<ProductId> = {
        let mut ids: Vec<ProductId> = products.keys().copied().collect();
        ids.sort();
        ids
    };

    let actors: HashMap<UserId, User> = reps
        .iter()
        .chain([&manager, &admin])
        .map(|u| (u.id, u.clone()))
        .collect();
    for n in 0..200 {
        let customer = &customers[rng.random_range(0..customers.len())];
        let rep = &actors[&customer.profile.owner_rep_id];
        let created = now
            - Duration::days(rng.random_range(1..180))
            - Duration::minutes(rng.random_range(0..600));
        let lines: Vec<LineInput> = (0..rng.random_range(1..=5))
            .map(|_| LineInput {
                product_id: product_ids[rng.random_range(0..product_ids.len())],
                quantity: Decimal::from(rng.random_range(1..=40)),
                unit_price: None,
                discount_percent: Some(Decimal::from([0, 0, 0, 5, 10, 20][rng.random_range(0..6)])),
            })
            .collect();
        let content = OrderContent {
            lines: build_lines(&lines, &products, eur).map_err(|e| e.to_string())?,
            requested_date: Some((created + Duration::days(rng.random_range(20..60))).date_naive()),
            delivery_address: customer.profile.address.clone(),
            payment_terms: customer.profile.payment_terms,
            customer_po: Some(format!(
                "PO-{}-{:04}",
                slug(&customer.profile.name)[..4].to_uppercase(),
                n
            )),
            notes: None,
        };
        let target = OrderStatus::ALL[n % OrderStatus::ALL.len()];
        drive(
            store,
            &actors,
            rep,
            &manager,
            customer.id,
            content,
            created,
            target,
            &products,
        )
        .await?;
    }
    tracing::info!(elapsed = ?started.elapsed(), "demo data loaded");
    eprintln!(
        "demo data loaded: users admin@orderdesk.test, mia.manager@orderdesk.test, rob.rep@orderdesk.test, sara.sales@orderdesk.test, tom.trader@orderdesk.test, buyer@northwind.test (password `{DEMO_PASSWORD}`)"
    );
    Ok(true)
}

/// Creates one order and walks it through the lifecycle to `target` with real commands.
#[allow(clippy::too_many_arguments)]
async fn drive(
    store: &Store,
    actors: &HashMap<UserId, User>,
    rep: &User,
    manager: &User,
    customer_id: domain::CustomerId,
    content: OrderContent,
    created: DateTime<Utc>,
    target: OrderStatus,
    products: &HashMap<ProductId, Product>,
) -> CliResult<()> {
    use OrderStatus as S;
    let err = |e: domain::ports::RepoError| e.to_string();
    let actor = |u: &User| Actor {
        user_id: u.id,
        role: u.role,
        customer_id: None,
    };
    let created_order = store
        .create_order(
            NewOrder {
                customer_id,
                sales_rep_id: rep.id,
                currency: Currency::parse("EUR").map_err(|e| e.to_string())?,
                content,
                created_at: created,
            },
            rep.id,
            None,
        )
        .await
        .map_err(err)?;
    let mut order = created_order.order;
    let mut at = created;
    let path: Vec<OrderStatus> = match target {
        S::Draft => vec![],
        S::NeedsRevision => vec![S::NeedsRevision],
        S::PendingApproval => vec![S::PendingApproval],
        S::Approved => vec![S::Approved],
        S::Confirmed => vec![S::Approved, S::Confirmed],
        S::InProduction => vec![S::Approved, S::Confirmed, S::InProduction],
        S::ReadyToShip => vec![S::Approved, S::Confirmed, S::InProduction, S::ReadyToShip],
        S::PartiallyShipped => vec![
            S::Approved,
            S::Confirmed,
            S::ReadyToShip,
            S::PartiallyShipped,
        ],
        S::Shipped => vec![
            S::Approved,
            S::Confirmed,
            S::InProduction,
            S::ReadyToShip,
            S::Shipped,
        ],
        S::Delivered => vec![
            S::Approved,
            S::Confirmed,
            S::InProduction,
            S::ReadyToShip,
            S::Shipped,
            S::Delivered,
        ],
        S::Completed => vec![
            S::Approved,
            S::Confirmed,
            S::InProduction,
            S::ReadyToShip,
            S::Shipped,
            S::Delivered,
            S::Completed,
        ],
        S::OnHold => vec![S::Approved, S::Confirmed, S::InProduction, S::OnHold],
        S::Cancelled => vec![S::Cancelled],
    };
    for step in path {
        at += Duration::hours(20);
        let (command, by) = match step {
            S::NeedsRevision => {
                let findings = vec![domain::review::Finding {
                    code: "MISSING_REQUESTED_DATE".into(),
                    severity: domain::review::Severity::Blocker,
                    message: "customer has not given a delivery date".into(),
                    line_no: None,
                }];
                (OrderCommand::Submit { findings }, rep)
            }
            S::PendingApproval | S::Approved if order.status == S::Draft => {
                let facts = products
                    .iter()
                    .map(|(id, p)| {
                        (
                            *id,
                            ProductFacts {
                                list_price: p.details.list_price,
                                lead_time_days: p.details.lead_time_days,
                            },
                        )
                    })
                    .collect();
                // Demo history is written in the past: review it as of its own day, with
                // credit and duplicate checks left to the live server.
                let mut findings = evaluate(
                    order.currency,
                    &order.content,
                    &ReviewContext {
                        today: at.date_naive(),
                        discount_authority: rep.discount_authority,
                        products: facts,
                        credit: CreditPosition {
                            limit: Money::new(domain::money::max_amount(), order.currency)
                                .map_err(|e| e.to_string())?,
                            open_receivables: rust_decimal::Decimal::ZERO,
                            unbilled_confirmed: rust_decimal::Decimal::ZERO,
                        },
                        same_po_orders: Vec::new(),
                    },
                    &ReviewPolicy::default(),
                );
                if step == S::PendingApproval && findings.is_empty() {
                    findings.push(domain::review::Finding {
                        code: "DISCOUNT_ABOVE_AUTHORITY".into(),
                        severity: domain::review::Severity::NeedsApproval,
                        message: "special price agreed by phone".into(),
                        line_no: Some(1),
                    });
                }
                if step == S::Approved {
                    findings.retain(|f| f.severity != domain::review::Severity::Blocker);
                }
                let command = OrderCommand::Submit { findings };
                let decision =
                    decide(&order, command.clone(), &actor(rep), at).map_err(|e| e.to_string())?;
                if decision.order.status == S::PendingApproval && step == S::Approved {
                    save(store, &mut order, decision, rep.id, at).await?;
                    at += Duration::hours(3);
                    (
                        OrderCommand::Approve {
                            comment: Some("ok for this customer".into()),
                        },
                        manager,
                    )
                } else {
                    (command, rep)
                }
            }
            S::Confirmed => (
                OrderCommand::Confirm(Confirmation {
                    confirmed_by: "Purchasing".into(),
                    channel: ConfirmationChannel::Email,
                    reference: Some(format!("mail re {}", order.number)),
                    confirmed_at: at,
                    promised_date: order.content.requested_date,
                }),
                rep,
            ),
            S::Completed => {
                // Invoicing does not exist yet: the demo records payment out of band.
                order.payment_status = PaymentStatus::Paid;
                (OrderCommand::Complete, rep)
            }
            S::Cancelled => (
                OrderCommand::Cancel {
                    reason: "customer withdrew the enquiry".into(),
                },
                rep,
            ),
            S::OnHold => (
                OrderCommand::Hold {
                    reason: "awaiting customer's artwork".into(),
                },
                rep,
            ),
            other => (
                OrderCommand::to_status(&order, other, None).map_err(|e| e.to_string())?,
                rep,
            ),
        };
        let by = actors.get(&by.id).unwrap_or(by);
        let decision = decide(&order, command, &actor(by), at)
            .map_err(|e| format!("{}: {e}", order.number))?;
        save(store, &mut order, decision, by.id, at).await?;
    }
    Ok(())
}

async fn save(
    store: &Store,
    order: &mut domain::order::Order,
    decision: domain::lifecycle::Decision,
    actor_id: UserId,
    at: DateTime<Utc>,
) -> CliResult<()> {
    store
        .save_order(OrderChange {
            order: &decision.order,
            expected_version: order.version,
            lines_changed: decision.lines_changed,
            events: decision.events,
            actor_id,
            at,
        })
        .await
        .map_err(|e| e.to_string())?;
    *order = decision.order;
    Ok(())
}

fn slug(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase()
}

const COMPANIES: [&str; 20] = [
    "Northwind Traders",
    "Contoso Retail",
    "Fabrikam Industries",
    "Adventure Works",
    "Tailspin Toys",
    "Wide World Importers",
    "Litware Systems",
    "Proseware Supplies",
    "Lucerne Publishing",
    "Margie Travel",
    "Alpine Ski House",
    "Coho Winery",
    "Datum Corporation",
    "Fourth Coffee",
    "Graphic Design Institute",
    "Humongous Insurance",
    "Blue Yonder Airlines",
    "Trey Research",
    "Woodgrove Bank",
    "Southridge Video",
];

const PRODUCTS: [(&str, &str, &str, u16); 30] = [
    ("Steel bracket", "pcs", "2.45", 5),
    ("Aluminium profile 2m", "pcs", "18.90", 10),
    ("Hex bolt M8", "box", "12.50", 3),
    ("Wood panel oak", "m2", "64.00", 14),
    ("Copper wire 1.5mm", "m", "0.85", 7),
    ("Safety gloves", "pair", "4.20", 2),
    ("Industrial glue", "kg", "23.75", 5),
    ("LED panel 60x60", "pcs", "39.99", 12),
    ("Cable tray", "m", "9.30", 8),
    ("Hydraulic hose", "m", "15.60", 15),
    ("Ball bearing 6204", "pcs", "3.333", 6),
    ("Conveyor belt", "m", "120.00", 30),
    ("Control relay", "pcs", "27.40", 9),
    ("Paint RAL 9010", "l", "11.95", 4),
    ("Packaging foam", "roll", "31.00", 3),
    ("Pallet EUR", "pcs", "14.50", 2),
    ("Stretch film", "roll", "8.75", 2),
    ("Ventilation fan", "pcs", "189.00", 21),
    ("Pressure valve", "pcs", "56.20", 18),
    ("Rubber seal kit", "kit", "19.90", 6),
    ("Stainless sheet 1mm", "m2", "48.30", 10),
    ("Welding rod", "kg", "7.65", 4),
    ("Circuit breaker 16A", "pcs", "13.10", 5),
    ("Touch display 7in", "pcs", "249.00", 28),
    ("Gear motor", "pcs", "310.00", 35),
    ("Sensor cable 5m", "pcs", "22.40", 7),
    ("Filter cartridge", "pcs", "17.80", 5),
    ("Spring washer M10", "box", "6.90", 3),
    ("Plastic crate", "pcs", "9.95", 4),
    ("Label printer ribbon", "roll", "5.55", 3),
];
