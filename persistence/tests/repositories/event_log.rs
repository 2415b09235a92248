//! The event log: sequence numbers are gap-free and increasing across orders and commands, also
//! when several orders are written at once.

use domain::event::StoredEvent;
use domain::lifecycle::decide;
use domain::ports::{EventLog, OrderRepository};
use persistence::Store;

use crate::fixtures::{Desk, actor, apply, at, change, happy_path, load};

backend_tests!(event_sequence_numbers_are_gap_free_and_increasing);

async fn event_sequence_numbers_are_gap_free_and_increasing(store: Store) {
    let desk = Desk::set_up(&store).await;
    assert_eq!(store.last_seq().await.unwrap(), 0);
    assert!(store.events_after(0, 10).await.unwrap().is_empty());

    // One writer, two orders, interleaved commands.
    let a = store
        .create_order(desk.draft(at(0)), desk.rep.id, None)
        .await
        .unwrap();
    let b = store
        .create_order(desk.draft(at(1)), desk.rep.id, None)
        .await
        .unwrap();
    let mut written: Vec<StoredEvent> = [a.events.clone(), b.events.clone()].concat();
    for (step, command) in happy_path(at(2)).into_iter().take(2).enumerate() {
        let step = i64::try_from(step).unwrap();
        for id in [a.order.id, b.order.id] {
            let before = store.last_seq().await.unwrap();
            apply(&store, id, command.clone(), &desk.admin, at(10 + step)).await;
            written.extend(store.events_after(before, 100).await.unwrap());
        }
    }

    // Eight writers at once, each creating an order and running five commands on it.
    let tasks: Vec<_> = (0..8_i64)
        .map(|task| {
            let store = store.clone();
            let new = desk.draft(at(100 * (task + 1)));
            let (rep, admin) = (desk.rep.id, desk.admin.clone());
            tokio::spawn(async move {
                let created = store.create_order(new, rep, None).await.unwrap();
                let mut events = created.events;
                let id = created.order.id;
                let mut now = created.order.created_at;
                for command in happy_path(now) {
                    now += chrono::Duration::seconds(1);
                    let order = load(&store, id).await;
                    let decision = decide(&order, command, &actor(&admin), now).unwrap();
                    let stored = store
                        .save_order(change(&decision, order.version, admin.id, now))
                        .await
                        .unwrap();
                    assert!(
                        stored
                            .iter()
                            .all(|e| e.order_version == decision.order.version)
                    );
                    events.extend(stored);
                }
                events
            })
        })
        .collect();
    for task in tasks {
        written.extend(task.await.unwrap());
    }

    let log = store.events_after(0, 1000).await.unwrap();
    let n = i64::try_from(log.len()).unwrap();
    // 2 orders x (1 + 2 + 2) events, then 8 orders x (1 + 2 + 2 + 1 + 1 + 1).
    assert_eq!(n, 2 * 5 + 8 * 8);
    assert_eq!(
        log.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    assert_eq!(store.last_seq().await.unwrap(), n);
    written.sort_by_key(|e| e.seq);
    assert_eq!(
        log, written,
        "the log holds exactly what the writes returned"
    );

    // Per order: in sequence order, versions never go back.
    let mut order_ids: Vec<_> = log.iter().map(|e| e.order_id).collect();
    order_ids.dedup();
    order_ids.sort();
    order_ids.dedup();
    assert_eq!(order_ids.len(), 10);
    for id in order_ids {
        let own = store.order_events(id).await.unwrap();
        let expected: Vec<_> = log.iter().filter(|e| e.order_id == id).cloned().collect();
        assert_eq!(own, expected);
        assert!(
            own.windows(2)
                .all(|w| w[0].order_version <= w[1].order_version)
        );
    }

    // Reading in pages (on a SQLite file, as the dispatcher does: on the caller's thread).
    let inline_before = store.inline_reads();
    assert_eq!(
        store.events_after(10, 5).await.unwrap(),
        log[10..15].to_vec()
    );
    assert!(store.events_after(n, 10).await.unwrap().is_empty());
    assert_eq!(
        store.events_after(n - 1, 10).await.unwrap(),
        log[log.len() - 1..].to_vec()
    );
    assert_eq!(store.last_seq().await.unwrap(), n);
    if let (Some((answered, failed)), Some(before)) = (store.inline_reads(), inline_before) {
        assert_eq!((answered - before.0, failed - before.1), (4, 0));
    }
}
