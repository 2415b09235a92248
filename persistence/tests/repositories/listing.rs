//! Order lists: visibility scopes and filters are applied by the query, pages are keyset pages,
//! newest first, that visit every order exactly once.

use domain::lifecycle::{OrderCommand, OrderStatus};
use domain::order::OrderSummary;
use domain::ports::{
    CustomerFilter, CustomerRepository, OrderFilter, OrderRepository, PageRequest, UserRepository,
};
use domain::user::{Role, Scope};
use domain::{CustomerId, OrderId};
use persistence::Store;

use crate::fixtures::{Desk, apply, at, dec, draft, line, load, new_customer, new_user};

backend_tests!(
    lists_apply_scope_and_filters_and_page_newest_first,
    search_is_case_insensitive_on_number_and_customer_po,
    search_text_is_matched_literally_not_as_a_like_pattern,
    one_order_comes_with_its_own_rep_and_customer,
);

/// Every page of a list, following the keyset cursor; asserts `has_next` on the way, and that
/// the same page of summaries (no lines) is the same orders, each with its lines' total.
async fn all_pages(
    store: &Store,
    scope: Scope,
    filter: &OrderFilter,
    first: u32,
) -> Vec<Vec<OrderId>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let request = PageRequest { first, after };
        let page = store.list_orders(scope, filter, request).await.unwrap();
        let summaries = store
            .list_order_summaries(scope, filter, request)
            .await
            .unwrap();
        assert_eq!(summaries.has_next, page.has_next);
        assert_eq!(
            summaries.items,
            page.items
                .iter()
                .cloned()
                .map(OrderSummary::of)
                .collect::<Vec<_>>(),
            "a summary is its order without the lines, with their total"
        );
        let ids: Vec<OrderId> = page.items.iter().map(|o| o.id).collect();
        assert!(ids.len() <= first as usize);
        if page.has_next {
            assert_eq!(
                ids.len(),
                first as usize,
                "a page followed by another is full"
            );
        }
        after = ids.last().map(|id| id.0);
        pages.push(ids);
        if !page.has_next {
            return pages;
        }
        assert!(pages.len() < 100, "paging does not end");
    }
}

/// The ids of one unpaged list (at most 100 orders).
async fn ids(store: &Store, scope: Scope, filter: &OrderFilter) -> Vec<OrderId> {
    all_pages(store, scope, filter, 100).await.concat()
}

/// `orders` picked by position, newest first.
fn newest_first(orders: &[OrderId], positions: &[usize]) -> Vec<OrderId> {
    let mut picked: Vec<OrderId> = positions.iter().map(|&i| orders[i]).collect();
    picked.sort_by(|a, b| b.cmp(a));
    picked
}

async fn lists_apply_scope_and_filters_and_page_newest_first(store: Store) {
    let desk = Desk::set_up(&store).await;
    let manager = &desk.manager;
    let other_manager = new_user(&store, "m2@desk.example", Role::Manager, None).await;
    let rep1 = &desk.rep;
    let rep2 = new_user(&store, "rep2@desk.example", Role::Sales, Some(manager.id)).await;
    let rep3 = new_user(
        &store,
        "rep3@desk.example",
        Role::Sales,
        Some(other_manager.id),
    )
    .await;
    let c1 = desk.customer.clone();
    let c2 = new_customer(&store, "Borealis", rep2.id).await;
    let c3 = new_customer(&store, "Cobalt", rep3.id).await;
    // The manager also owns an account of their own.
    let c4 = new_customer(&store, "Delta", manager.id).await;

    let owners = [&c1, &c2, &c3, &c1, &c4, &c2, &c3, &c1];
    let mut orders = Vec::new();
    for (i, customer) in owners.into_iter().enumerate() {
        let i = i64::try_from(i).unwrap();
        let lines = vec![line(
            1,
            &desk.widget,
            dec("1") + rust_decimal::Decimal::from(i),
            dec("19.99"),
            dec("0"),
        )];
        let created = store
            .create_order(
                draft(customer, lines, at(60 * i)),
                customer.profile.owner_rep_id,
                None,
            )
            .await
            .unwrap();
        orders.push(created.order.id);
    }
    let cancel = || OrderCommand::Cancel {
        reason: "duplicate".to_owned(),
    };
    apply(&store, orders[3], cancel(), &desk.admin, at(1000)).await;
    apply(&store, orders[6], cancel(), &desk.admin, at(1000)).await;
    apply(
        &store,
        orders[5],
        OrderCommand::Submit { findings: vec![] },
        &desk.admin,
        at(1000),
    )
    .await;

    let none = OrderFilter::default();
    let all = newest_first(&orders, &[0, 1, 2, 3, 4, 5, 6, 7]);

    // Keyset pages of two visit each order once, newest first.
    let pages = all_pages(&store, Scope::All, &none, 2).await;
    assert_eq!(pages.len(), 4);
    assert_eq!(pages.concat(), all);
    let pages = all_pages(&store, Scope::All, &none, 3).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![3, 3, 2]
    );
    assert_eq!(pages.concat(), all);

    // Listed orders come with their lines, as stored.
    let page = store
        .list_orders(
            Scope::All,
            &none,
            PageRequest {
                first: 8,
                after: None,
            },
        )
        .await
        .unwrap();
    assert!(!page.has_next);
    for order in &page.items {
        assert_eq!(order, &load(&store, order.id).await);
        assert_eq!(order.content.lines.len(), 1);
    }

    // Scopes.
    assert_eq!(
        ids(&store, Scope::Rep(rep1.id), &none).await,
        newest_first(&orders, &[0, 3, 7])
    );
    assert_eq!(
        ids(&store, Scope::Rep(rep3.id), &none).await,
        newest_first(&orders, &[2, 6])
    );
    assert_eq!(
        ids(&store, Scope::Team(manager.id), &none).await,
        newest_first(&orders, &[0, 1, 3, 4, 5, 7])
    );
    assert_eq!(
        ids(&store, Scope::Team(other_manager.id), &none).await,
        newest_first(&orders, &[2, 6])
    );
    assert_eq!(
        ids(&store, Scope::Customer(c2.id), &none).await,
        newest_first(&orders, &[1, 5])
    );
    assert_eq!(
        ids(&store, Scope::Customer(CustomerId(9999)), &none).await,
        vec![]
    );
    assert_eq!(ids(&store, Scope::Nothing, &none).await, vec![]);
    let team_pages = all_pages(&store, Scope::Team(manager.id), &none, 4).await;
    assert_eq!(
        team_pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![4, 2]
    );
    // A team's page merges a page per member: every order once, newest first, across pages
    // that each mix members.
    let team_pages = all_pages(&store, Scope::Team(manager.id), &none, 2).await;
    assert_eq!(team_pages.len(), 3);
    assert_eq!(
        team_pages.concat(),
        newest_first(&orders, &[0, 1, 3, 4, 5, 7])
    );
    let of_rep1 = OrderFilter {
        sales_rep_id: Some(rep1.id),
        ..OrderFilter::default()
    };
    assert_eq!(
        ids(&store, Scope::Team(manager.id), &of_rep1).await,
        newest_first(&orders, &[0, 3, 7])
    );
    assert_eq!(
        ids(&store, Scope::Team(other_manager.id), &of_rep1).await,
        vec![]
    );

    // Filters, alone and with a scope.
    let cancelled = OrderFilter {
        statuses: vec![OrderStatus::Cancelled],
        ..OrderFilter::default()
    };
    assert_eq!(
        ids(&store, Scope::All, &cancelled).await,
        newest_first(&orders, &[3, 6])
    );
    assert_eq!(
        ids(&store, Scope::Team(manager.id), &cancelled).await,
        newest_first(&orders, &[3])
    );
    let closed_or_approved = OrderFilter {
        statuses: vec![OrderStatus::Cancelled, OrderStatus::Approved],
        ..OrderFilter::default()
    };
    assert_eq!(
        ids(&store, Scope::All, &closed_or_approved).await,
        newest_first(&orders, &[3, 5, 6])
    );
    let drafts = OrderFilter {
        statuses: vec![OrderStatus::Draft],
        ..OrderFilter::default()
    };
    assert_eq!(
        ids(&store, Scope::Team(manager.id), &drafts).await,
        newest_first(&orders, &[0, 1, 4, 7])
    );
    let of_c1 = OrderFilter {
        customer_id: Some(c1.id),
        ..OrderFilter::default()
    };
    assert_eq!(
        ids(&store, Scope::All, &of_c1).await,
        newest_first(&orders, &[0, 3, 7])
    );
    assert_eq!(ids(&store, Scope::Rep(rep2.id), &of_c1).await, vec![]);
    let of_rep3 = OrderFilter {
        sales_rep_id: Some(rep3.id),
        ..OrderFilter::default()
    };
    assert_eq!(
        ids(&store, Scope::All, &of_rep3).await,
        newest_first(&orders, &[2, 6])
    );
    let c1_drafts = OrderFilter {
        statuses: vec![OrderStatus::Draft],
        customer_id: Some(c1.id),
        ..OrderFilter::default()
    };
    assert_eq!(
        ids(&store, Scope::All, &c1_drafts).await,
        newest_first(&orders, &[0, 7])
    );
    let window = OrderFilter {
        created_from: Some(at(60 * 2)),
        created_to: Some(at(60 * 5)),
        ..OrderFilter::default()
    };
    assert_eq!(
        ids(&store, Scope::All, &window).await,
        newest_first(&orders, &[2, 3, 4])
    );

    // Customers follow the same scopes.
    let customers = store
        .list_customers(
            Scope::Team(manager.id),
            &CustomerFilter::default(),
            PageRequest {
                first: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    let mut customer_ids: Vec<_> = customers.items.iter().map(|c| c.id).collect();
    customer_ids.sort();
    assert_eq!(customer_ids, vec![c1.id, c2.id, c4.id]);
    // On SQLite the pages of orders above were read on the test's own thread, none through sqlx.
    if let Some((answered, failed)) = store.inline_reads() {
        assert!(answered >= 5, "{answered} inline reads");
        assert_eq!(failed, 0);
    }
}

/// Four drafts, the second to fourth with these customer PO references; returns them in order.
async fn orders_with_pos(store: &Store, desk: &Desk, pos: [Option<&str>; 4]) -> Vec<OrderId> {
    let mut orders = Vec::new();
    for (i, po) in pos.into_iter().enumerate() {
        let mut new = desk.draft(at(i64::try_from(i).unwrap()));
        new.content.customer_po = po.map(str::to_owned);
        orders.push(
            store
                .create_order(new, desk.rep.id, None)
                .await
                .unwrap()
                .order
                .id,
        );
    }
    orders
}

async fn search(store: &Store, text: &str) -> Vec<OrderId> {
    let filter = OrderFilter {
        search: Some(text.to_owned()),
        ..OrderFilter::default()
    };
    ids(store, Scope::All, &filter).await
}

async fn search_is_case_insensitive_on_number_and_customer_po(store: Store) {
    let desk = Desk::set_up(&store).await;
    let orders = orders_with_pos(
        &store,
        &desk,
        [
            None,
            Some("Acme-7"),
            Some("po-2024-17"),
            Some("Ärztehaus-Öst"),
        ],
    )
    .await;
    let number = load(&store, orders[2]).await.number;
    assert_eq!(number, "SO-000003");

    assert_eq!(search(&store, "so-000003").await, vec![orders[2]]);
    assert_eq!(search(&store, "So-000003").await, vec![orders[2]]);
    assert_eq!(
        search(&store, "SO-00000").await,
        newest_first(&orders, &[0, 1, 2, 3])
    );
    assert_eq!(search(&store, "ACME-7").await, vec![orders[1]]);
    assert_eq!(search(&store, "PO-2024").await, vec![orders[2]]);
    assert_eq!(search(&store, "  acme  ").await, vec![orders[1]]);
    assert_eq!(search(&store, "nothing-like-it").await, vec![]);
    // Blank search means no search.
    assert_eq!(search(&store, "   ").await.len(), 4);
    // Letters beyond ASCII fold too, and a reference is found by its own text.
    assert_eq!(
        search(&store, "Ärztehaus-Öst").await,
        vec![orders[3]],
        "exact text"
    );
    assert_eq!(search(&store, "ärztehaus").await, vec![orders[3]]);
    assert_eq!(search(&store, "ÄRZTEHAUS-ÖST").await, vec![orders[3]]);
}

async fn search_text_is_matched_literally_not_as_a_like_pattern(store: Store) {
    let desk = Desk::set_up(&store).await;
    let orders = orders_with_pos(
        &store,
        &desk,
        [
            None,
            Some("PO_Acme-7"),
            Some("po-2024-17"),
            Some("100% cotton"),
        ],
    )
    .await;

    // `%` and `_` are characters to find, like any other.
    assert_eq!(search(&store, "po_acme").await, vec![orders[1]]);
    assert_eq!(search(&store, "100%").await, vec![orders[3]]);
    assert_eq!(search(&store, "so-%3").await, vec![], "% is no wildcard");
    assert_eq!(search(&store, "po_2024").await, vec![], "_ is no wildcard");
    assert_eq!(search(&store, "100 cotton").await, vec![]);
}

/// `order_with_parties` joins the order's own rep and customer (not the first of each), its
/// order is the one the batch lookup returns, lines in line order, and a missing id is `None`.
async fn one_order_comes_with_its_own_rep_and_customer(store: Store) {
    let desk = Desk::set_up(&store).await;
    // Every optional field of the order set (the second order leaves them unset).
    let mut full = desk.draft(at(0));
    full.content.requested_date = Some(chrono::NaiveDate::from_ymd_opt(2027, 2, 28).unwrap());
    full.content.customer_po = Some("PO-7".to_owned());
    full.content.notes = Some("call before delivery".to_owned());
    let first = store.create_order(full, desk.rep.id, None).await.unwrap();
    let other_rep = new_user(&store, "other@desk.example", Role::Sales, None).await;
    let other_customer = new_customer(&store, "Other Industries", other_rep.id).await;
    let lines = (1..=12)
        .map(|n| line(n, &desk.widget, dec("1"), dec("2.5"), dec("0")))
        .collect();
    let second = store
        .create_order(draft(&other_customer, lines, at(60)), other_rep.id, None)
        .await
        .unwrap();

    for (created, rep, customer) in [
        (&first, &desk.rep, &desk.customer),
        (&second, &other_rep, &other_customer),
    ] {
        let found = store
            .order_with_parties(created.order.id)
            .await
            .unwrap()
            .expect("the order exists");
        assert_eq!(found.order, load(&store, created.order.id).await);
        assert_eq!(found.order, created.order);
        assert_eq!(&found.sales_rep, rep);
        assert_eq!(
            found.sales_rep,
            store.users_by_ids(&[rep.id]).await.unwrap()[0]
        );
        assert_eq!(&found.customer, customer);
    }
    let numbers: Vec<u32> = second
        .order
        .content
        .lines
        .iter()
        .map(|l| l.line_no)
        .collect();
    assert_eq!(
        numbers,
        (1..=12).collect::<Vec<_>>(),
        "line 10 after line 9"
    );
    assert_eq!(
        store
            .order_with_parties(OrderId(second.order.id.0 + 1))
            .await,
        Ok(None)
    );
    // On SQLite the three orders with their parties and the two users were read on the test's
    // own thread (and agreed above with the orders read through sqlx); none had to fall back.
    if let Some(counts) = store.inline_reads() {
        assert_eq!(counts, (5, 0));
    }
}
