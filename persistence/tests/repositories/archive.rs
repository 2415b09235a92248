//! The customer archive: profiles with contacts, addresses and preferences, product costs, notes
//! on orders, the interaction log with follow-ups, and the order queries purchase history,
//! follow-ups and the review rules (credit exposure, duplicate customer PO) are derived from.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use domain::archive::{Channel, Direction, NewInteraction, NoteVisibility};
use domain::catalog::{Contact, Customer, CustomerAddress, CustomerSummary, Preferences};
use domain::lifecycle::{OrderCommand, OrderStatus, PaymentStatus, decide};
use domain::order::{Confirmation, ConfirmationChannel, Order};
use domain::ports::{
    ArchiveRepository, CustomerFilter, CustomerRepository, InteractionFilter, OrderRepository,
    PageRequest, ProductRepository, RepoError,
};
use domain::review::{Finding, Severity};
use domain::user::{Role, Scope, User};
use domain::{CustomerId, OrderId, ProductId};
use persistence::Store;
use rust_decimal::Decimal;

use crate::fixtures::{
    Desk, actor, at, change, currency, dec, details, draft, line, load, new_customer, new_user,
    profile,
};

backend_tests!(
    a_profile_with_contacts_addresses_and_preferences_round_trips_exactly,
    a_product_cost_round_trips_exactly_and_is_never_rounded,
    customer_search_matches_tags_and_contacts_ignoring_case_beyond_ascii,
    notes_come_oldest_first_and_internal_ones_only_when_asked_for,
    interactions_come_newest_first_in_keyset_pages_per_customer_and_per_order,
    open_follow_ups_are_the_users_own_due_and_not_done_earliest_first,
    completing_a_follow_up_keeps_the_first_time_and_an_unknown_id_is_not_found,
    last_contacts_are_the_latest_occurrence_per_customer_and_omit_the_never_contacted,
    committed_orders_are_the_customers_confirmed_or_later_and_not_cancelled,
    active_orders_of_a_rep_are_approved_to_shipped_and_on_hold_oldest_first,
    credit_exposure_sums_the_customers_open_commitments_in_the_currency_and_leaves_one_out,
    orders_with_a_customer_po_match_ignoring_case_except_cancelled_and_the_given_order,
    orders_with_a_customer_po_match_ignoring_case_beyond_ascii,
);

/// Every status an order can be in, in lifecycle order.
const EVERY_STATUS: [OrderStatus; 13] = [
    OrderStatus::Draft,
    OrderStatus::NeedsRevision,
    OrderStatus::PendingApproval,
    OrderStatus::Approved,
    OrderStatus::Confirmed,
    OrderStatus::InProduction,
    OrderStatus::ReadyToShip,
    OrderStatus::PartiallyShipped,
    OrderStatus::Shipped,
    OrderStatus::Delivered,
    OrderStatus::Completed,
    OrderStatus::OnHold,
    OrderStatus::Cancelled,
];

/// A day of the follow-up calendar: 2026-03-10 plus `offset` days.
fn day(offset: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 10).unwrap() + chrono::Duration::days(offset)
}

fn submit(severity: Option<Severity>) -> OrderCommand {
    OrderCommand::Submit {
        findings: severity
            .map(|severity| Finding {
                code: "RULE".to_owned(),
                severity,
                message: "flagged".to_owned(),
                line_no: None,
            })
            .into_iter()
            .collect(),
    }
}

fn confirm(now: DateTime<Utc>) -> OrderCommand {
    OrderCommand::Confirm(Confirmation {
        confirmed_by: "Ms Buyer".to_owned(),
        channel: ConfirmationChannel::Email,
        reference: None,
        confirmed_at: now,
        promised_date: None,
    })
}

/// The commands that take a fresh draft to `status` through the real lifecycle. A CANCELLED
/// order is cancelled after confirmation, so it was once a commitment.
fn path_to(status: OrderStatus, now: DateTime<Utc>) -> Vec<OrderCommand> {
    let confirmed = || vec![submit(None), confirm(now)];
    let shipped = |complete| {
        let mut path = confirmed();
        path.extend([
            OrderCommand::StartProduction,
            OrderCommand::MarkReadyToShip,
            OrderCommand::Ship { complete },
        ]);
        path
    };
    match status {
        OrderStatus::Draft => vec![],
        OrderStatus::NeedsRevision => vec![submit(Some(Severity::Blocker))],
        OrderStatus::PendingApproval => vec![submit(Some(Severity::NeedsApproval))],
        OrderStatus::Approved => vec![submit(None)],
        OrderStatus::Confirmed => confirmed(),
        OrderStatus::InProduction => [confirmed(), vec![OrderCommand::StartProduction]].concat(),
        OrderStatus::ReadyToShip => [
            confirmed(),
            vec![OrderCommand::StartProduction, OrderCommand::MarkReadyToShip],
        ]
        .concat(),
        OrderStatus::PartiallyShipped => shipped(false),
        OrderStatus::Shipped => shipped(true),
        OrderStatus::Delivered => [shipped(true), vec![OrderCommand::Deliver]].concat(),
        OrderStatus::Completed => [
            shipped(true),
            vec![OrderCommand::Deliver, OrderCommand::Complete],
        ]
        .concat(),
        OrderStatus::OnHold => [
            confirmed(),
            vec![OrderCommand::Hold {
                reason: "awaiting artwork".to_owned(),
            }],
        ]
        .concat(),
        OrderStatus::Cancelled => [
            confirmed(),
            vec![OrderCommand::Cancel {
                reason: "customer withdrew".to_owned(),
            }],
        ]
        .concat(),
    }
}

/// Decides `command` on the stored order (after letting `prepare` change it, e.g. its payment
/// status) and saves it.
async fn step(
    store: &Store,
    id: OrderId,
    command: OrderCommand,
    by: &User,
    now: DateTime<Utc>,
    prepare: impl FnOnce(&mut Order),
) {
    let mut order = load(store, id).await;
    let version = order.version;
    prepare(&mut order);
    let decision = decide(&order, command, &actor(by), now).unwrap();
    store
        .save_order(change(&decision, version, by.id, now))
        .await
        .unwrap();
}

/// Drives a stored draft to `status`; payment is recorded out of band before completion, as
/// the seeder does while invoicing does not exist.
async fn drive(store: &Store, id: OrderId, status: OrderStatus, by: &User, now: DateTime<Utc>) {
    for command in path_to(status, now) {
        let completes = matches!(command, OrderCommand::Complete);
        step(store, id, command, by, now, |order| {
            if completes {
                order.payment_status = PaymentStatus::Paid;
            }
        })
        .await;
    }
    assert_eq!(load(store, id).await.status, status);
}

/// A draft of `customer` with `quantity` widgets, created at `created_at` and driven to `status`.
async fn order_in(
    store: &Store,
    desk: &Desk,
    customer: &Customer,
    quantity: &str,
    status: OrderStatus,
    created_at: DateTime<Utc>,
) -> Order {
    let new = draft(
        customer,
        vec![line(1, &desk.widget, dec(quantity), dec("19.99"), dec("0"))],
        created_at,
    );
    let id = store
        .create_order(new, customer.profile.owner_rep_id, None)
        .await
        .unwrap()
        .order
        .id;
    drive(store, id, status, &desk.admin, created_at).await;
    load(store, id).await
}

/// One order of `customer` in every status, oldest first in [`EVERY_STATUS`] order.
async fn one_order_per_status(
    store: &Store,
    desk: &Desk,
    customer: &Customer,
    from_second: i64,
) -> Vec<Order> {
    let mut orders = Vec::new();
    for (i, status) in EVERY_STATUS.into_iter().enumerate() {
        let i = i64::try_from(i).unwrap();
        let quantity = (i + 1).to_string();
        orders.push(
            order_in(
                store,
                desk,
                customer,
                &quantity,
                status,
                at(from_second + i),
            )
            .await,
        );
    }
    orders
}

fn ids_of(orders: &[Order]) -> Vec<OrderId> {
    orders.iter().map(|o| o.id).collect()
}

fn interaction(
    customer: &Customer,
    by: &User,
    occurred_at: DateTime<Utc>,
    follow_up_on: Option<NaiveDate>,
) -> NewInteraction {
    NewInteraction {
        customer_id: customer.id,
        order_id: None,
        user_id: by.id,
        channel: Channel::Phone,
        direction: Direction::Outbound,
        summary: format!("called about the order, {occurred_at}"),
        occurred_at,
        follow_up_on,
    }
}

fn first(first: u32, after: Option<i64>) -> PageRequest {
    PageRequest { first, after }
}

async fn a_profile_with_contacts_addresses_and_preferences_round_trips_exactly(store: Store) {
    let desk = Desk::set_up(&store).await;
    let mut profile = profile("Ångström AB", desk.rep.id, currency("SEK"), dec("75000.5"));
    profile.contacts = vec![
        Contact {
            name: "Åsa Öberg".to_owned(),
            role: Some("Purchasing \"lead\"".to_owned()),
            phone: Some("+46 8 123 45 67".to_owned()),
            email: Some("asa@angstrom.example".to_owned()),
            wechat_id: Some("asa_oberg_微信".to_owned()),
        },
        Contact {
            name: "Li Wei".to_owned(),
            ..Contact::default()
        },
    ];
    profile.addresses = vec![
        CustomerAddress {
            label: "HQ".to_owned(),
            address: "Sveavägen 1\n111 57 Stockholm".to_owned(),
        },
        CustomerAddress {
            label: "Warehouse Göteborg".to_owned(),
            address: "Hamngatan 9, Göteborg".to_owned(),
        },
    ];
    profile.preferences = Preferences {
        notes: Some("Call before 10:00; never on Fridays.\nPrefers \\ pallets".to_owned()),
        preferred_product_ids: vec![desk.gadget.id, desk.widget.id, ProductId(999)],
        preferred_channel: Some(Channel::Wechat),
    };
    let created = store
        .create_customer(profile.clone(), at(10))
        .await
        .unwrap();
    assert_eq!(created.profile, profile);
    assert_eq!(created.version, 1);
    assert_eq!(
        store.customers_by_ids(&[created.id]).await.unwrap(),
        vec![created.clone()]
    );
    // A summary is the same customer without its documents, the rest read as stored.
    let summaries = store
        .customer_summaries_by_ids(&[created.id, desk.customer.id])
        .await
        .unwrap();
    let mut expected = vec![
        CustomerSummary::of(created.clone()),
        CustomerSummary::of(desk.customer.clone()),
    ];
    expected.sort_by_key(|s| s.customer.id);
    let mut summaries = summaries;
    summaries.sort_by_key(|s| s.customer.id);
    assert_eq!(summaries, expected);
    let listed = store
        .list_customers(
            Scope::Rep(desk.rep.id),
            &CustomerFilter::default(),
            first(10, None),
        )
        .await
        .unwrap();
    assert!(listed.items.contains(&created), "{listed:?}");

    // An update replaces the lists as given, emptying them included.
    let mut changed = profile.clone();
    changed.contacts.reverse();
    changed.contacts[0].phone = None;
    changed.addresses.clear();
    changed.preferences = Preferences {
        notes: None,
        preferred_product_ids: vec![],
        preferred_channel: None,
    };
    let updated = store
        .update_customer(created.id, 1, changed.clone())
        .await
        .unwrap();
    assert_eq!(updated.profile, changed);
    assert_eq!(updated.version, 2);
    assert_eq!(
        store.customers_by_ids(&[created.id]).await.unwrap(),
        vec![updated]
    );

    // The desk's plain customer still reads back with empty lists and default preferences.
    let plain = store.customers_by_ids(&[desk.customer.id]).await.unwrap();
    assert_eq!(plain, vec![desk.customer.clone()]);
    assert!(plain[0].profile.contacts.is_empty());
    assert_eq!(plain[0].profile.preferences, Preferences::default());
}

async fn a_product_cost_round_trips_exactly_and_is_never_rounded(store: Store) {
    for (sku, cost) in [
        ("COST-1", Some(dec("12.3456"))),
        ("COST-2", Some(dec("0.0001"))),
        ("COST-3", Some(dec("0"))),
        ("COST-4", Some(dec("98765432.1"))),
        ("COST-5", None),
    ] {
        let mut product = details(sku, dec("120"), currency("EUR"));
        product.unit_cost = cost;
        let created = store.create_product(product.clone(), at(0)).await.unwrap();
        assert_eq!(created.details, product, "{sku}");
        let found = store.products_by_ids(&[created.id]).await.unwrap();
        assert_eq!(found, vec![created.clone()], "{sku}");
        assert_eq!(
            found[0].details.unit_cost.map(|c| c.to_string()),
            cost.map(|c| c.normalize().to_string()),
            "{sku}: the digits, not just the value"
        );

        // A cost can be set, changed and removed.
        let mut changed = product.clone();
        changed.unit_cost = match cost {
            Some(_) => None,
            None => Some(dec("7.5")),
        };
        let updated = store
            .update_product(created.id, created.version, changed.clone())
            .await
            .unwrap();
        assert_eq!(updated.details, changed, "{sku}");
        assert_eq!(
            store.products_by_ids(&[created.id]).await.unwrap(),
            vec![updated]
        );
    }

    // More digits than storage keeps is refused, not rounded, and nothing is stored.
    let mut too_fine = details("COST-6", dec("120"), currency("EUR"));
    too_fine.unit_cost = Some(dec("1.00005"));
    let err = store.create_product(too_fine, at(0)).await.unwrap_err();
    assert!(matches!(err, RepoError::Storage(_)), "{err:?}");
    let all = store
        .list_products(&domain::ports::ProductFilter::default(), first(100, None))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 5);
    // On SQLite the ten reads by id above ran on the test's own thread, none through sqlx.
    if let Some(counts) = store.inline_reads() {
        assert_eq!(counts, (10, 0));
    }
}

async fn customer_search_matches_tags_and_contacts_ignoring_case_beyond_ascii(store: Store) {
    let desk = Desk::set_up(&store).await;
    let other_rep = new_user(&store, "rep2@desk.example", Role::Sales, None).await;
    let mut angstrom = profile("Ångström AB", desk.rep.id, currency("SEK"), dec("1000"));
    angstrom.tags = vec!["Optik".to_owned()];
    angstrom.contacts = vec![Contact {
        name: "Øystein Ærø".to_owned(),
        email: Some("Oystein@Angstrom.example".to_owned()),
        phone: Some("+46 70 555 01 02".to_owned()),
        wechat_id: Some("Oystein_WX".to_owned()),
        role: Some("Einkäufer".to_owned()),
    }];
    let angstrom = store.create_customer(angstrom, at(1)).await.unwrap();
    let mut theirs = profile("Ångström Oy", other_rep.id, currency("EUR"), dec("1000"));
    theirs.tags = vec!["optik".to_owned()];
    let theirs = store.create_customer(theirs, at(2)).await.unwrap();

    let search = |scope: Scope, text: &str| {
        let store = store.clone();
        let filter = CustomerFilter {
            search: Some(text.to_owned()),
            owner_rep_id: None,
        };
        async move {
            let page = store
                .list_customers(scope, &filter, first(100, None))
                .await
                .unwrap();
            page.items.iter().map(|c| c.id).collect::<BTreeSet<_>>()
        }
    };
    let both: BTreeSet<CustomerId> = [angstrom.id, theirs.id].into();
    let mine: BTreeSet<CustomerId> = [angstrom.id].into();
    for text in ["ÅNGSTRÖM", "ångström", "ÅngStröm", "OPTIK"] {
        assert_eq!(search(Scope::All, text).await, both, "{text}");
        assert_eq!(search(Scope::Rep(desk.rep.id), text).await, mine, "{text}");
    }
    for text in [
        "øystein ærø",
        "ØYSTEIN",
        "oystein@angstrom.EXAMPLE",
        "555 01",
        "oystein_wx",
    ] {
        assert_eq!(search(Scope::All, text).await, mine, "{text}");
    }
    assert!(
        search(Scope::All, "einkäufer").await.is_empty(),
        "roles are not searched"
    );
    assert!(search(Scope::Rep(other_rep.id), "øystein").await.is_empty());
}

async fn notes_come_oldest_first_and_internal_ones_only_when_asked_for(store: Store) {
    let desk = Desk::set_up(&store).await;
    let first_order = store
        .create_order(desk.draft(at(0)), desk.rep.id, None)
        .await
        .unwrap()
        .order;
    let second_order = store
        .create_order(desk.draft(at(1)), desk.rep.id, None)
        .await
        .unwrap()
        .order;
    let untouched = store
        .create_order(desk.draft(at(2)), desk.rep.id, None)
        .await
        .unwrap()
        .order;

    let mut written = Vec::new();
    for (i, (order, visibility, body)) in [
        (
            &first_order,
            NoteVisibility::Internal,
            "Margin is thin — hold firm",
        ),
        (
            &second_order,
            NoteVisibility::CustomerVisible,
            "Ships in two lots",
        ),
        (
            &first_order,
            NoteVisibility::CustomerVisible,
            "Danke für Ihre Bestellung",
        ),
        (&first_order, NoteVisibility::Internal, "Escalate if late"),
        (&second_order, NoteVisibility::Internal, "Check credit"),
    ]
    .into_iter()
    .enumerate()
    {
        let when = at(100 + i64::try_from(i).unwrap());
        let note = store
            .add_order_note(order.id, desk.rep.id, visibility, body.to_owned(), when)
            .await
            .unwrap();
        assert_eq!(
            (note.order_id, note.author_id, note.visibility),
            (order.id, desk.rep.id, visibility)
        );
        assert_eq!((note.body.as_str(), note.created_at), (body, when));
        written.push(note);
    }

    let both = [first_order.id, second_order.id];
    assert_eq!(store.order_notes(&both, true).await.unwrap(), written);
    let visible: Vec<_> = written
        .iter()
        .filter(|n| n.visibility == NoteVisibility::CustomerVisible)
        .cloned()
        .collect();
    assert_eq!(store.order_notes(&both, false).await.unwrap(), visible);
    assert_eq!(
        store.order_notes(&[first_order.id], true).await.unwrap(),
        vec![written[0].clone(), written[2].clone(), written[3].clone()]
    );
    assert_eq!(
        store.order_notes(&[first_order.id], false).await.unwrap(),
        vec![written[2].clone()]
    );
    assert_eq!(
        store.order_notes(&[second_order.id], false).await.unwrap(),
        vec![written[1].clone()]
    );
    assert!(
        store
            .order_notes(&[untouched.id], true)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.order_notes(&[], true).await.unwrap().is_empty());
    assert!(
        store
            .order_notes(&[OrderId(untouched.id.0 + 1000)], true)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn interactions_come_newest_first_in_keyset_pages_per_customer_and_per_order(store: Store) {
    let desk = Desk::set_up(&store).await;
    let other = new_customer(&store, "Borealis", desk.rep.id).await;
    let order = store
        .create_order(desk.draft(at(0)), desk.rep.id, None)
        .await
        .unwrap()
        .order;

    let mut logged = Vec::new();
    for i in 0..5_i64 {
        let mut new = interaction(&desk.customer, &desk.rep, at(60 * i), None);
        if i % 2 == 0 {
            new.order_id = Some(order.id);
        }
        if i == 1 {
            new.channel = Channel::Wechat;
            new.direction = Direction::Inbound;
            new.summary = "Kunde fragt nach Liefertermin — 交货日期?".to_owned();
            new.follow_up_on = Some(day(3));
        }
        let stored = store
            .log_interaction(new.clone(), at(60 * i + 5))
            .await
            .unwrap();
        assert_eq!(stored.details, new);
        assert_eq!(stored.created_at, at(60 * i + 5));
        assert_eq!(stored.follow_up_done_at, None);
        assert_eq!(
            store.interaction(stored.id).await.unwrap(),
            Some(stored.clone())
        );
        logged.push(stored);
        // Someone else's customer in between: never on this customer's pages.
        store
            .log_interaction(interaction(&other, &desk.rep, at(60 * i + 1), None), at(0))
            .await
            .unwrap();
    }
    let newest_first: Vec<_> = logged.iter().rev().cloned().collect();

    let customer = InteractionFilter::Customer(desk.customer.id);
    let page = store.interactions(customer, first(2, None)).await.unwrap();
    assert_eq!(page.items, newest_first[0..2]);
    assert!(page.has_next);
    let page = store
        .interactions(customer, first(2, Some(page.items[1].id)))
        .await
        .unwrap();
    assert_eq!(page.items, newest_first[2..4]);
    assert!(page.has_next);
    let page = store
        .interactions(customer, first(2, Some(page.items[1].id)))
        .await
        .unwrap();
    assert_eq!(page.items, newest_first[4..]);
    assert!(!page.has_next);
    let page = store.interactions(customer, first(5, None)).await.unwrap();
    assert_eq!((page.items, page.has_next), (newest_first.clone(), false));

    let about_order: Vec<_> = newest_first
        .iter()
        .filter(|i| i.details.order_id == Some(order.id))
        .cloned()
        .collect();
    assert_eq!(about_order.len(), 3);
    let by_order = InteractionFilter::Order(order.id);
    let page = store.interactions(by_order, first(2, None)).await.unwrap();
    assert_eq!(
        (page.items.as_slice(), page.has_next),
        (&about_order[..2], true)
    );
    let page = store
        .interactions(by_order, first(2, Some(page.items[1].id)))
        .await
        .unwrap();
    assert_eq!(
        (page.items.as_slice(), page.has_next),
        (&about_order[2..], false)
    );

    let nobody = new_customer(&store, "Cobalt", desk.rep.id).await;
    let page = store
        .interactions(InteractionFilter::Customer(nobody.id), first(10, None))
        .await
        .unwrap();
    assert!(page.items.is_empty() && !page.has_next);
    assert_eq!(store.interaction(logged[4].id + 1000).await.unwrap(), None);
}

async fn open_follow_ups_are_the_users_own_due_and_not_done_earliest_first(store: Store) {
    let desk = Desk::set_up(&store).await;
    let rep2 = new_user(&store, "rep2@desk.example", Role::Sales, None).await;
    let today = day(0);
    let mut ids = HashMap::new();
    for (name, by, follow_up_on) in [
        ("in three days", &desk.rep, Some(day(3))),
        ("yesterday", &desk.rep, Some(day(-1))),
        ("today", &desk.rep, Some(today)),
        ("no follow-up", &desk.rep, None),
        ("today, done", &desk.rep, Some(today)),
        ("today again", &desk.rep, Some(today)),
        ("last week", &desk.rep, Some(day(-7))),
        ("someone else's", &rep2, Some(day(-30))),
    ] {
        let stored = store
            .log_interaction(interaction(&desk.customer, by, at(0), follow_up_on), at(0))
            .await
            .unwrap();
        ids.insert(name, stored.id);
    }
    store
        .complete_follow_up(ids["today, done"], at(10))
        .await
        .unwrap();

    let due = |due_by: NaiveDate| {
        let store = store.clone();
        let user = desk.rep.id;
        async move {
            store
                .open_follow_ups(user, due_by)
                .await
                .unwrap()
                .into_iter()
                .map(|i| {
                    assert_eq!(i.details.user_id, user);
                    assert_eq!(i.follow_up_done_at, None);
                    i.id
                })
                .collect::<Vec<_>>()
        }
    };
    let names = |names: &[&str]| names.iter().map(|n| ids[n]).collect::<Vec<_>>();
    assert_eq!(
        due(today).await,
        names(&["last week", "yesterday", "today", "today again"])
    );
    assert_eq!(due(day(-1)).await, names(&["last week", "yesterday"]));
    assert_eq!(due(day(-8)).await, Vec::<i64>::new());
    assert_eq!(
        due(day(3)).await,
        names(&[
            "last week",
            "yesterday",
            "today",
            "today again",
            "in three days"
        ])
    );
    assert_eq!(
        store
            .open_follow_ups(rep2.id, today)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect::<Vec<_>>(),
        names(&["someone else's"])
    );

    // At most 100, the earliest.
    for i in 0..110_i64 {
        store
            .log_interaction(
                interaction(&desk.customer, &rep2, at(i), Some(day(-200 + i))),
                at(i),
            )
            .await
            .unwrap();
    }
    let many = store.open_follow_ups(rep2.id, today).await.unwrap();
    assert_eq!(many.len(), 100);
    assert_eq!(many[0].details.follow_up_on, Some(day(-200)));
    assert_eq!(many[99].details.follow_up_on, Some(day(-101)));
}

async fn completing_a_follow_up_keeps_the_first_time_and_an_unknown_id_is_not_found(store: Store) {
    let desk = Desk::set_up(&store).await;
    let owed = store
        .log_interaction(
            interaction(&desk.customer, &desk.rep, at(0), Some(day(0))),
            at(0),
        )
        .await
        .unwrap();
    let neighbour = store
        .log_interaction(
            interaction(&desk.customer, &desk.rep, at(1), Some(day(0))),
            at(1),
        )
        .await
        .unwrap();

    let done = store.complete_follow_up(owed.id, at(100)).await.unwrap();
    assert_eq!(done.follow_up_done_at, Some(at(100)));
    assert_eq!(
        (&done.details, done.created_at),
        (&owed.details, owed.created_at)
    );
    let again = store.complete_follow_up(owed.id, at(500)).await.unwrap();
    assert_eq!(again, done, "a repeat changes nothing");
    assert_eq!(store.interaction(owed.id).await.unwrap(), Some(done));
    assert_eq!(
        store.interaction(neighbour.id).await.unwrap(),
        Some(neighbour.clone())
    );

    let unknown = neighbour.id + 1000;
    assert_eq!(
        store
            .complete_follow_up(unknown, at(600))
            .await
            .unwrap_err(),
        RepoError::NotFound {
            entity: "interaction",
            id: unknown
        }
    );
    assert_eq!(store.interaction(unknown).await.unwrap(), None);
}

async fn last_contacts_are_the_latest_occurrence_per_customer_and_omit_the_never_contacted(
    store: Store,
) {
    let desk = Desk::set_up(&store).await;
    let rep2 = new_user(&store, "rep2@desk.example", Role::Sales, None).await;
    let borealis = new_customer(&store, "Borealis", desk.rep.id).await;
    let never = new_customer(&store, "Cobalt", desk.rep.id).await;
    // Logged out of order: a contact recorded late, backdated, is not the latest one.
    for (customer, by, occurred_at) in [
        (&desk.customer, &desk.rep, at(300)),
        (&desk.customer, &rep2, at(100)),
        (&desk.customer, &desk.rep, at(299)),
        (&borealis, &desk.rep, at(10)),
    ] {
        store
            .log_interaction(interaction(customer, by, occurred_at, None), at(1000))
            .await
            .unwrap();
    }

    let all = [desk.customer.id, borealis.id, never.id, CustomerId(9999)];
    assert_eq!(
        store.last_contacts(&all).await.unwrap(),
        HashMap::from([(desk.customer.id, at(300)), (borealis.id, at(10))])
    );
    assert_eq!(
        store.last_contacts(&[borealis.id]).await.unwrap(),
        HashMap::from([(borealis.id, at(10))])
    );
    assert!(store.last_contacts(&[never.id]).await.unwrap().is_empty());
    assert!(store.last_contacts(&[]).await.unwrap().is_empty());
}

async fn committed_orders_are_the_customers_confirmed_or_later_and_not_cancelled(store: Store) {
    let desk = Desk::set_up(&store).await;
    let other = new_customer(&store, "Borealis", desk.rep.id).await;
    let orders = one_order_per_status(&store, &desk, &desk.customer, 0).await;
    one_order_per_status(&store, &desk, &other, 100).await;

    let committed = store.committed_orders(desk.customer.id).await.unwrap();
    let expected: BTreeSet<OrderId> = orders
        .iter()
        .filter(|o| {
            matches!(
                o.status,
                OrderStatus::Confirmed
                    | OrderStatus::InProduction
                    | OrderStatus::ReadyToShip
                    | OrderStatus::PartiallyShipped
                    | OrderStatus::Shipped
                    | OrderStatus::Delivered
                    | OrderStatus::Completed
                    | OrderStatus::OnHold
            )
        })
        .map(|o| o.id)
        .collect();
    assert_eq!(expected.len(), 8);
    let got: BTreeSet<OrderId> = committed.iter().map(|o| o.id).collect();
    assert_eq!(got.len(), committed.len(), "each order once");
    assert_eq!(got, expected);
    for order in &committed {
        assert_eq!(order, &load(&store, order.id).await, "lines included");
        assert_eq!(order.content.lines.len(), 1);
    }

    let fresh = new_customer(&store, "Cobalt", desk.rep.id).await;
    order_in(&store, &desk, &fresh, "1", OrderStatus::Approved, at(500)).await;
    assert!(store.committed_orders(fresh.id).await.unwrap().is_empty());
}

async fn active_orders_of_a_rep_are_approved_to_shipped_and_on_hold_oldest_first(store: Store) {
    let desk = Desk::set_up(&store).await;
    let rep2 = new_user(&store, "rep2@desk.example", Role::Sales, None).await;
    let second_customer = new_customer(&store, "Borealis", desk.rep.id).await;
    let theirs = new_customer(&store, "Cobalt", rep2.id).await;
    let mine = one_order_per_status(&store, &desk, &desk.customer, 0).await;
    let mine_too = order_in(
        &store,
        &desk,
        &second_customer,
        "2",
        OrderStatus::Approved,
        at(50),
    )
    .await;
    one_order_per_status(&store, &desk, &theirs, 100).await;

    let mut expected: Vec<Order> = mine
        .into_iter()
        .filter(|o| {
            matches!(
                o.status,
                OrderStatus::Approved
                    | OrderStatus::Confirmed
                    | OrderStatus::InProduction
                    | OrderStatus::ReadyToShip
                    | OrderStatus::PartiallyShipped
                    | OrderStatus::Shipped
                    | OrderStatus::OnHold
            )
        })
        .collect();
    expected.push(mine_too);
    assert_eq!(expected.len(), 8);
    let active = store.active_orders_of_rep(desk.rep.id).await.unwrap();
    assert_eq!(ids_of(&active), ids_of(&expected), "oldest first");
    assert_eq!(active, expected, "lines included");

    let of_rep2 = store.active_orders_of_rep(rep2.id).await.unwrap();
    assert_eq!(of_rep2.len(), 7);
    assert!(of_rep2.iter().all(|o| o.sales_rep_id == rep2.id));
    assert!(
        store
            .active_orders_of_rep(desk.manager.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn credit_exposure_sums_the_customers_open_commitments_in_the_currency_and_leaves_one_out(
    store: Store,
) {
    let desk = Desk::set_up(&store).await;
    let other = new_customer(&store, "Borealis", desk.rep.id).await;
    let orders = one_order_per_status(&store, &desk, &desk.customer, 0).await;
    one_order_per_status(&store, &desk, &other, 100).await;
    // No order here is invoiced: how invoices reduce the unbilled amount and make up the
    // receivables belongs to the invoicing contract, not to this one.

    // A confirmed order in another currency counts only in that currency.
    let mut in_usd = draft(
        &desk.customer,
        vec![line(1, &desk.gadget, dec("3"), dec("99.95"), dec("0"))],
        at(300),
    );
    in_usd.currency = currency("USD");
    let in_usd = store
        .create_order(in_usd, desk.rep.id, None)
        .await
        .unwrap()
        .order;
    drive(
        &store,
        in_usd.id,
        OrderStatus::Confirmed,
        &desk.admin,
        at(300),
    )
    .await;

    let open: Vec<&Order> = orders
        .iter()
        .filter(|o| {
            matches!(
                o.status,
                OrderStatus::Confirmed
                    | OrderStatus::InProduction
                    | OrderStatus::ReadyToShip
                    | OrderStatus::PartiallyShipped
                    | OrderStatus::Shipped
                    | OrderStatus::Delivered
                    | OrderStatus::OnHold
            )
        })
        .collect();
    assert_eq!(open.len(), 7);
    let sum = |orders: &[&Order]| orders.iter().map(|o| o.total()).sum::<Decimal>();
    let eur = currency("EUR");
    let nothing_excluded = OrderId(0);

    let exposure = store
        .credit_exposure(desk.customer.id, eur, nothing_excluded)
        .await
        .unwrap();
    assert_eq!(exposure.unbilled_confirmed, sum(&open));
    assert_eq!(exposure.open_receivables, Decimal::ZERO);

    // The order being reviewed is left out, whatever its status.
    let excluded = open[2];
    let without: Vec<&Order> = open
        .iter()
        .copied()
        .filter(|o| o.id != excluded.id)
        .collect();
    assert_eq!(
        store
            .credit_exposure(desk.customer.id, eur, excluded.id)
            .await
            .unwrap()
            .unbilled_confirmed,
        sum(&without)
    );
    let draft_order = &orders[0];
    assert_eq!(draft_order.status, OrderStatus::Draft);
    assert_eq!(
        store
            .credit_exposure(desk.customer.id, eur, draft_order.id)
            .await
            .unwrap()
            .unbilled_confirmed,
        sum(&open)
    );

    let in_usd = load(&store, in_usd.id).await;
    assert_eq!(
        store
            .credit_exposure(desk.customer.id, currency("USD"), nothing_excluded)
            .await
            .unwrap()
            .unbilled_confirmed,
        in_usd.total()
    );
    assert_eq!(
        store
            .credit_exposure(desk.customer.id, currency("USD"), in_usd.id)
            .await
            .unwrap()
            .unbilled_confirmed,
        Decimal::ZERO
    );
    let fresh = new_customer(&store, "Cobalt", desk.rep.id).await;
    assert_eq!(
        store
            .credit_exposure(fresh.id, eur, nothing_excluded)
            .await
            .unwrap()
            .unbilled_confirmed,
        Decimal::ZERO
    );
}

/// A draft of `customer` with customer PO `po`, driven to `status`.
async fn order_with_po(
    store: &Store,
    desk: &Desk,
    customer: &Customer,
    po: Option<&str>,
    status: OrderStatus,
    created_at: DateTime<Utc>,
) -> Order {
    let mut new = draft(
        customer,
        vec![line(1, &desk.widget, dec("1"), dec("19.99"), dec("0"))],
        created_at,
    );
    new.content.customer_po = po.map(str::to_owned);
    let id = store
        .create_order(new, customer.profile.owner_rep_id, None)
        .await
        .unwrap()
        .order
        .id;
    drive(store, id, status, &desk.admin, created_at).await;
    load(store, id).await
}

async fn orders_with_a_customer_po_match_ignoring_case_except_cancelled_and_the_given_order(
    store: Store,
) {
    let desk = Desk::set_up(&store).await;
    let other = new_customer(&store, "Borealis", desk.rep.id).await;
    let c = &desk.customer;
    let draft_order = order_with_po(
        &store,
        &desk,
        c,
        Some("PO-Acme-7"),
        OrderStatus::Draft,
        at(0),
    )
    .await;
    let confirmed = order_with_po(
        &store,
        &desk,
        c,
        Some("po-acme-7"),
        OrderStatus::Confirmed,
        at(1),
    )
    .await;
    order_with_po(
        &store,
        &desk,
        c,
        Some("PO-ACME-7"),
        OrderStatus::Cancelled,
        at(2),
    )
    .await;
    let completed = order_with_po(
        &store,
        &desk,
        c,
        Some("Po-AcMe-7"),
        OrderStatus::Completed,
        at(3),
    )
    .await;
    order_with_po(
        &store,
        &desk,
        c,
        Some("PO-Acme-77"),
        OrderStatus::Draft,
        at(4),
    )
    .await;
    order_with_po(&store, &desk, c, Some("PO-Acme"), OrderStatus::Draft, at(5)).await;
    let without_po = order_with_po(&store, &desk, c, None, OrderStatus::Draft, at(6)).await;
    order_with_po(
        &store,
        &desk,
        &other,
        Some("PO-Acme-7"),
        OrderStatus::Draft,
        at(7),
    )
    .await;

    let numbers = |orders: &[&Order]| orders.iter().map(|o| o.number.clone()).collect::<Vec<_>>();
    // A new order being reviewed is not stored yet: nothing to exclude.
    assert_eq!(
        store
            .orders_with_customer_po(c.id, "PO-ACME-7", without_po.id)
            .await
            .unwrap(),
        numbers(&[&draft_order, &confirmed, &completed])
    );
    assert_eq!(
        store
            .orders_with_customer_po(c.id, "po-acme-7", draft_order.id)
            .await
            .unwrap(),
        numbers(&[&confirmed, &completed])
    );
    assert_eq!(
        store
            .orders_with_customer_po(c.id, "pO-aCmE-7", confirmed.id)
            .await
            .unwrap(),
        numbers(&[&draft_order, &completed])
    );
    assert!(
        store
            .orders_with_customer_po(c.id, "PO-Acme-", draft_order.id)
            .await
            .unwrap()
            .is_empty(),
        "the whole reference must match, not a prefix"
    );
    assert!(
        store
            .orders_with_customer_po(c.id, "PO-Acme-7%", draft_order.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .orders_with_customer_po(other.id, "po-acme-7", draft_order.id)
            .await
            .unwrap()
            .len(),
        1
    );

    // At most ten, the oldest.
    let mut many = Vec::new();
    for i in 0..12 {
        many.push(
            order_with_po(
                &store,
                &desk,
                &other,
                Some("BULK-1"),
                OrderStatus::Draft,
                at(100 + i),
            )
            .await,
        );
    }
    let found = store
        .orders_with_customer_po(other.id, "bulk-1", OrderId(0))
        .await
        .unwrap();
    assert_eq!(found, numbers(&many.iter().take(10).collect::<Vec<_>>()));
}

async fn orders_with_a_customer_po_match_ignoring_case_beyond_ascii(store: Store) {
    let desk = Desk::set_up(&store).await;
    let c = &desk.customer;
    let first = order_with_po(
        &store,
        &desk,
        c,
        Some("Ärztehaus-Öst/7"),
        OrderStatus::Draft,
        at(0),
    )
    .await;
    let second = order_with_po(&store, &desk, c, None, OrderStatus::Draft, at(1)).await;
    for text in ["Ärztehaus-Öst/7", "ärztehaus-öst/7", "ÄRZTEHAUS-ÖST/7"] {
        assert_eq!(
            store
                .orders_with_customer_po(c.id, text, second.id)
                .await
                .unwrap(),
            vec![first.number.clone()],
            "`{text}` is the same reference as `Ärztehaus-Öst/7`, ignoring case"
        );
    }
}
