//! Migrating an up-to-date database changes nothing.

use domain::ports::{OrderRepository, UserRepository};
use domain::user::Email;
use persistence::Store;

use crate::fixtures::{Desk, at};

backend_tests!(migrating_twice_is_harmless_and_leaves_nothing_pending);

async fn migrating_twice_is_harmless_and_leaves_nothing_pending(store: Store) {
    // The harness migrated once already.
    assert_eq!(store.pending_migrations().await.unwrap(), 0);
    let desk = Desk::set_up(&store).await;

    store.migrate().await.unwrap();
    store.migrate().await.unwrap();

    assert_eq!(store.pending_migrations().await.unwrap(), 0);
    let email = Email::parse("rep@desk.example").unwrap();
    assert_eq!(
        store.user_by_email(&email).await.unwrap(),
        Some(desk.rep.clone())
    );
    // Counters were seeded once, not again: numbering starts where it should.
    let created = store
        .create_order(desk.draft(at(0)), desk.rep.id, None)
        .await
        .unwrap();
    assert_eq!(created.order.number, "SO-000001");
    assert_eq!(created.events[0].seq, 1);
}
