//! Idempotent creation: a retried request replays its first result, a reused key is refused, and
//! concurrent requests with one key make one order.

use domain::event::OrderEventKind;
use domain::lifecycle::{OrderCommand, decide};
use domain::ports::{
    EventLog, IdempotencyClaim, OrderFilter, OrderRepository, PageRequest, RepoError,
};
use domain::user::Scope;
use persistence::Store;

use crate::fixtures::{Desk, actor, at, change, load};

backend_tests!(
    a_retried_creation_replays_and_a_reused_key_is_refused,
    concurrent_creations_with_one_key_make_one_order,
    what_create_and_save_return_is_what_is_stored_and_replayed,
);

async fn order_count(store: &Store) -> usize {
    store
        .list_orders(
            Scope::All,
            &OrderFilter::default(),
            PageRequest {
                first: 100,
                after: None,
            },
        )
        .await
        .unwrap()
        .items
        .len()
}

async fn a_retried_creation_replays_and_a_reused_key_is_refused(store: Store) {
    let desk = Desk::set_up(&store).await;
    let claim = IdempotencyClaim {
        user_id: desk.rep.id,
        key: "create-7f3a".to_owned(),
        fingerprint: "sha256:aaaa".to_owned(),
    };
    let first = store
        .create_order(desk.draft(at(0)), desk.rep.id, Some(claim.clone()))
        .await
        .unwrap();
    assert!(!first.replayed);
    assert_eq!(first.events.len(), 1);
    let last_seq = store.last_seq().await.unwrap();

    // The retry arrives a little later; it must not create anything.
    let retry = store
        .create_order(desk.draft(at(5)), desk.rep.id, Some(claim.clone()))
        .await
        .unwrap();
    assert!(retry.replayed);
    assert_eq!(retry.order.id, first.order.id);
    assert_eq!(retry.order, first.order);
    assert!(retry.events.is_empty());
    assert_eq!(store.last_seq().await.unwrap(), last_seq);
    assert_eq!(order_count(&store).await, 1);

    let reused = IdempotencyClaim {
        fingerprint: "sha256:bbbb".to_owned(),
        ..claim.clone()
    };
    let err = store
        .create_order(desk.draft(at(10)), desk.rep.id, Some(reused))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RepoError::IdempotencyMismatch("create-7f3a".to_owned())
    );
    assert_eq!(store.last_seq().await.unwrap(), last_seq);
    assert_eq!(order_count(&store).await, 1);

    // Keys are per user: the manager's identical key is a request of its own.
    let managers = IdempotencyClaim {
        user_id: desk.manager.id,
        ..claim
    };
    let other = store
        .create_order(desk.draft(at(15)), desk.manager.id, Some(managers))
        .await
        .unwrap();
    assert!(!other.replayed);
    assert_ne!(other.order.id, first.order.id);
    assert_eq!(order_count(&store).await, 2);
}

async fn concurrent_creations_with_one_key_make_one_order(store: Store) {
    let desk = Desk::set_up(&store).await;
    let claim = IdempotencyClaim {
        user_id: desk.rep.id,
        key: "double-click".to_owned(),
        fingerprint: "sha256:cccc".to_owned(),
    };
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (store, new, claim) = (store.clone(), desk.draft(at(0)), claim.clone());
            let rep = desk.rep.id;
            tokio::spawn(async move { store.create_order(new, rep, Some(claim)).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(
            task.await
                .unwrap()
                .expect("every request with the key succeeds"),
        );
    }
    let first = results
        .iter()
        .find(|r| !r.replayed)
        .expect("one request created the order");
    assert_eq!(results.iter().filter(|r| !r.replayed).count(), 1);
    for result in &results {
        assert_eq!(result.order.id, first.order.id);
        assert_eq!(result.order, first.order);
    }
    assert_eq!(order_count(&store).await, 1);
    let events = store.events_after(0, 1000).await.unwrap();
    assert_eq!(events, first.events);
    assert!(matches!(
        &events[..],
        [event] if matches!(event.kind, OrderEventKind::OrderCreated { .. })
    ));
}

async fn what_create_and_save_return_is_what_is_stored_and_replayed(store: Store) {
    let desk = Desk::set_up(&store).await;
    // `Utc::now()` carries nanoseconds; what the caller gets back (and publishes to live
    // subscribers) must be what a later read, a replay or the event log shows.
    let now = at(0) + chrono::Duration::nanoseconds(789);
    let claim = IdempotencyClaim {
        user_id: desk.rep.id,
        key: "precise".to_owned(),
        fingerprint: "sha256:dddd".to_owned(),
    };
    let first = store
        .create_order(desk.draft(now), desk.rep.id, Some(claim.clone()))
        .await
        .unwrap();
    let replay = store
        .create_order(desk.draft(now), desk.rep.id, Some(claim))
        .await
        .unwrap();
    assert!(replay.replayed);
    assert_eq!(
        replay.order, first.order,
        "a replay returns the first result"
    );
    assert_eq!(load(&store, first.order.id).await, first.order);
    assert_eq!(
        store.order_events(first.order.id).await.unwrap(),
        first.events
    );

    let later = now + chrono::Duration::seconds(1);
    let decision = decide(
        &first.order,
        OrderCommand::Cancel {
            reason: "test".to_owned(),
        },
        &actor(&desk.admin),
        later,
    )
    .unwrap();
    let saved = store
        .save_order(change(&decision, first.order.version, desk.admin.id, later))
        .await
        .unwrap();
    assert_eq!(
        store.events_after(first.events[0].seq, 10).await.unwrap(),
        saved
    );
}
