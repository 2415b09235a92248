//! Optimistic concurrency: a save based on a stale version is a `Conflict` and writes nothing.

use domain::OrderId;
use domain::event::OrderEventKind;
use domain::lifecycle::{OrderCommand, OrderStatus, decide};
use domain::ports::{EventLog, OrderRepository, RepoError};
use domain::review::{Finding, Severity};
use persistence::Store;

use crate::fixtures::{Desk, actor, at, change, content, dec, line, load, status_changes};

backend_tests!(
    a_stale_version_is_a_conflict_and_writes_nothing,
    of_concurrent_saves_at_one_version_exactly_one_wins,
);

async fn a_stale_version_is_a_conflict_and_writes_nothing(store: Store) {
    let desk = Desk::set_up(&store).await;
    let admin = actor(&desk.admin);
    let created = store
        .create_order(desk.draft(at(0)), desk.rep.id, None)
        .await
        .unwrap();
    let loaded = load(&store, created.order.id).await;
    assert_eq!(loaded, created.order);
    assert_eq!(loaded.version, 1);

    let cancel = decide(
        &loaded,
        OrderCommand::Cancel {
            reason: "customer withdrew".to_owned(),
        },
        &admin,
        at(60),
    )
    .unwrap();
    let saved = store
        .save_order(change(&cancel, loaded.version, desk.admin.id, at(60)))
        .await
        .unwrap();
    assert_eq!(cancel.order.version, 2);
    assert_eq!(
        saved.iter().map(|e| &e.kind).collect::<Vec<_>>(),
        cancel.events.iter().collect::<Vec<_>>()
    );
    assert!(
        saved
            .iter()
            .all(|e| e.order_version == 2 && e.actor_id == desk.admin.id)
    );
    assert_eq!(saved[0].seq, created.events[0].seq + 1);
    let cancelled = load(&store, loaded.id).await;
    assert_eq!(cancelled, cancel.order);
    assert_eq!(cancelled.status, OrderStatus::Cancelled);

    let events_before = store.order_events(loaded.id).await.unwrap();
    let last_seq_before = store.last_seq().await.unwrap();
    assert_eq!(events_before.len(), 2);

    // An edit decided on the version-1 copy, rewriting the lines: nothing of it may land.
    let mut edited = content(vec![line(1, &desk.widget, dec("99"), dec("1.5"), dec("0"))]);
    edited.notes = Some("rush".to_owned());
    let stale_edit = decide(&loaded, OrderCommand::UpdateDraft(edited), &admin, at(120)).unwrap();
    assert!(stale_edit.lines_changed);
    let err = store
        .save_order(change(&stale_edit, loaded.version, desk.admin.id, at(120)))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RepoError::Conflict {
            expected: 1,
            actual: 2
        }
    );

    // A version from the future is just as stale.
    let err = store
        .save_order(change(&stale_edit, 7, desk.admin.id, at(120)))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RepoError::Conflict {
            expected: 7,
            actual: 2
        }
    );

    assert_eq!(load(&store, loaded.id).await, cancel.order);
    assert_eq!(store.order_events(loaded.id).await.unwrap(), events_before);
    assert_eq!(store.last_seq().await.unwrap(), last_seq_before);

    // An order that does not exist is not found, and nothing is written either.
    let mut ghost = stale_edit.clone();
    ghost.order.id = OrderId(loaded.id.0 + 1000);
    let err = store
        .save_order(change(&ghost, 1, desk.admin.id, at(180)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RepoError::NotFound {
                entity: "order",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.last_seq().await.unwrap(), last_seq_before);
}

async fn of_concurrent_saves_at_one_version_exactly_one_wins(store: Store) {
    let desk = Desk::set_up(&store).await;
    let admin = actor(&desk.admin);
    let created = store
        .create_order(desk.draft(at(0)), desk.rep.id, None)
        .await
        .unwrap();
    let loaded = load(&store, created.order.id).await;
    let seq_before = store.last_seq().await.unwrap();

    let tasks: Vec<_> = (0..10_i64)
        .map(|i| {
            let (store, loaded) = (store.clone(), loaded.clone());
            tokio::spawn(async move {
                // Different decisions, each with exactly one STATUS_CHANGED.
                let command = if i % 2 == 0 {
                    OrderCommand::Cancel {
                        reason: format!("attempt {i}"),
                    }
                } else {
                    OrderCommand::Submit {
                        findings: vec![Finding {
                            code: format!("NOTE_{i}"),
                            severity: Severity::Info,
                            message: format!("attempt {i}"),
                            line_no: None,
                        }],
                    }
                };
                let decision = decide(&loaded, command, &admin, at(100 + i)).unwrap();
                let result = store
                    .save_order(change(
                        &decision,
                        loaded.version,
                        admin.user_id,
                        at(100 + i),
                    ))
                    .await;
                (decision, result)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (decision, result) = task.await.unwrap();
        match result {
            Ok(events) => winners.push((decision, events)),
            Err(err) => assert_eq!(
                err,
                RepoError::Conflict {
                    expected: 1,
                    actual: 2
                }
            ),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one save may win");
    let (decision, saved) = winners.pop().unwrap();

    assert_eq!(load(&store, loaded.id).await, decision.order);
    let added = store.events_after(seq_before, 1000).await.unwrap();
    assert_eq!(added, saved);
    assert_eq!(status_changes(added.iter().map(|e| e.kind.clone())), 1);
    assert!(
        added
            .iter()
            .all(|e| e.order_id == loaded.id && e.order_version == 2)
    );
    assert!(matches!(
        added.last().map(|e| &e.kind),
        Some(OrderEventKind::StatusChanged {
            from: OrderStatus::Draft,
            ..
        })
    ));
}
