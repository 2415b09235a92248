//! Live events: one dispatcher per process tails the event log (the single source of truth) and
//! routes new events to this instance's subscribers.
//!
//! Writers wake the dispatcher right after commit; a poll interval catches what other instances
//! committed (several instances on one PostgreSQL) or a wake-up that was missed. Sequence
//! numbers are handed out in commit order (see persistence `take_counter`), so reading
//! `seq > last_delivered` never skips an event.
//!
//! Routing: a subscriber registers under one route (an order, a customer, a rep, or everything
//! it may see) and an event is offered only to the subscribers of its order, its customer, its
//! rep and the "everything" list — a thousand reps each watching their own orders cost one map
//! lookup per event, not a thousand filter checks. Each subscriber has a bounded queue; one that
//! falls a full queue behind is cut off and told to resync from its cursor, so a slow client
//! never slows the dispatcher or the others, and never silently loses events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::event::StoredEvent;
use domain::ports::EventLog;
use domain::{CustomerId, OrderId, UserId};
use persistence::Store;
use tokio::sync::{Notify, mpsc};

/// Which events a subscriber is offered (it still filters and authorizes each one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// Events of one order.
    Order(OrderId),
    /// Events of one customer's orders.
    Customer(CustomerId),
    /// Events of one rep's orders.
    Rep(UserId),
    /// Every event (managers and admins; authorization filters per event).
    All,
}

struct Subscriber {
    id: u64,
    sender: mpsc::Sender<Arc<StoredEvent>>,
    overflowed: Arc<AtomicBool>,
}

#[derive(Default)]
struct Routes {
    by_route: HashMap<Route, Vec<Subscriber>>,
}

impl Routes {
    /// Offers the event to everyone on its routes; returns how many were cut off as too slow.
    fn dispatch(&mut self, event: &Arc<StoredEvent>) -> usize {
        let mut cut = 0;
        for route in [
            Route::Order(event.order_id),
            Route::Customer(event.customer_id),
            Route::Rep(event.sales_rep_id),
            Route::All,
        ] {
            let Some(subscribers) = self.by_route.get_mut(&route) else {
                continue;
            };
            subscribers.retain(|s| match s.sender.try_send(Arc::clone(event)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // Dropping the sender ends the stream after what is queued; the flag tells
                    // the subscriber why, so it can resync instead of believing it is complete.
                    s.overflowed.store(true, Ordering::Release);
                    cut += 1;
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
            if subscribers.is_empty() {
                self.by_route.remove(&route);
            }
        }
        cut
    }

    fn remove(&mut self, route: Route, id: u64) {
        if let Some(subscribers) = self.by_route.get_mut(&route) {
            subscribers.retain(|s| s.id != id);
            if subscribers.is_empty() {
                self.by_route.remove(&route);
            }
        }
    }
}

/// Routing of committed events to subscribers in this process.
#[derive(Clone)]
pub struct EventHub {
    wake: Arc<Notify>,
    routes: Arc<Mutex<Routes>>,
    next_id: Arc<AtomicU64>,
    capacity: usize,
    delivered: Arc<AtomicI64>,
    cut_off: Arc<AtomicU64>,
}

impl EventHub {
    /// A hub whose subscribers may fall `capacity` events behind before they are told to resync.
    pub fn new(capacity: usize) -> Self {
        Self {
            wake: Arc::new(Notify::new()),
            routes: Arc::default(),
            next_id: Arc::default(),
            capacity: capacity.max(1),
            delivered: Arc::default(),
            cut_off: Arc::default(),
        }
    }

    /// The last sequence number the dispatcher handed to subscribers (for the lag metric).
    pub fn delivered(&self) -> i64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Subscribers cut off as too slow since start (for `/metrics`).
    pub fn cut_off(&self) -> u64 {
        self.cut_off.load(Ordering::Relaxed)
    }

    /// Called after a commit: the dispatcher reads the log now instead of at the next poll.
    pub fn committed(&self) {
        self.wake.notify_one();
    }

    /// Registers a subscriber on `route`; it receives every event of that route from now on,
    /// until it is dropped or falls a full queue behind.
    pub fn subscribe(&self, route: Route) -> Subscription {
        let (sender, receiver) = mpsc::channel(self.capacity);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let overflowed = Arc::new(AtomicBool::new(false));
        self.lock()
            .by_route
            .entry(route)
            .or_default()
            .push(Subscriber {
                id,
                sender,
                overflowed: Arc::clone(&overflowed),
            });
        Subscription {
            receiver,
            overflowed,
            hub: self.clone(),
            route,
            id,
        }
    }

    /// How many subscribers are registered, over all routes.
    pub fn subscriber_count(&self) -> usize {
        self.lock().by_route.values().map(Vec::len).sum()
    }

    fn dispatch(&self, event: StoredEvent) {
        let event = Arc::new(event);
        let cut = self.lock().dispatch(&event);
        if cut > 0 {
            self.cut_off.fetch_add(cut as u64, Ordering::Relaxed);
            tracing::warn!(
                cut,
                seq = event.seq,
                "subscribers fell a full queue behind and were told to resync"
            );
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Routes> {
        // A panic while holding the lock leaves plain maps behind; they are still consistent.
        self.routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a subscriber receives.
pub enum Received {
    /// The next event of its route.
    Event(Arc<StoredEvent>),
    /// It fell a full queue behind and was cut off: resubscribe from the last cursor.
    Overflowed,
    /// The hub is gone (the server is stopping).
    Closed,
}

/// One subscriber's queue; unregisters itself when dropped.
pub struct Subscription {
    receiver: mpsc::Receiver<Arc<StoredEvent>>,
    overflowed: Arc<AtomicBool>,
    hub: EventHub,
    route: Route,
    id: u64,
}

impl Subscription {
    /// The next event, or why there is none.
    pub async fn recv(&mut self) -> Received {
        match self.receiver.recv().await {
            Some(event) => Received::Event(event),
            None if self.overflowed.load(Ordering::Acquire) => Received::Overflowed,
            None => Received::Closed,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.lock().remove(self.route, self.id);
    }
}

/// Events the dispatcher reads from the log at a time.
const DISPATCH_BATCH: u32 = 500;

/// Starts the dispatcher: from the current end of the log, forever (until the runtime stops).
pub async fn spawn_dispatcher(
    store: Store,
    hub: EventHub,
    poll: Duration,
) -> Result<Dispatcher, domain::ports::RepoError> {
    let mut cursor = store.last_seq().await?;
    hub.delivered.store(cursor, Ordering::Relaxed);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                () = hub.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
            loop {
                match store.events_after(cursor, DISPATCH_BATCH).await {
                    Ok(batch) => {
                        // A short page is the end of the log as of that read: a commit after it
                        // wakes the dispatcher again (`notify_one` keeps the wake-up for the
                        // next wait), so looking once more would find nothing. With a commit
                        // per change, that second read was 6 % of a change's instructions.
                        let end = batch.len() < DISPATCH_BATCH as usize;
                        for event in batch {
                            cursor = event.seq;
                            hub.delivered.store(cursor, Ordering::Relaxed);
                            hub.dispatch(event);
                        }
                        if end {
                            break;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(%err, "event dispatcher could not read the log; retrying");
                        break;
                    }
                }
            }
        }
    });
    Ok(Dispatcher(task))
}

/// The running dispatcher; dropping it stops the task, so it ends with the server.
pub struct Dispatcher(tokio::task::JoinHandle<()>);

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use domain::event::OrderEventKind;

    use super::*;

    fn event(seq: i64, order: i64, customer: i64, rep: i64) -> StoredEvent {
        StoredEvent {
            seq,
            order_id: OrderId(order),
            order_number: format!("SO-{order:06}"),
            customer_id: CustomerId(customer),
            sales_rep_id: UserId(rep),
            order_version: 1,
            actor_id: UserId(rep),
            at: Utc::now(),
            kind: OrderEventKind::DraftUpdated { changed: vec![] },
        }
    }

    async fn next_seq(sub: &mut Subscription) -> Option<i64> {
        match tokio::time::timeout(Duration::from_millis(50), sub.recv()).await {
            Ok(Received::Event(e)) => Some(e.seq),
            _ => None,
        }
    }

    /// Commits `events` as one change of `order` and tells the hub, as a service does.
    async fn commit(
        store: &Store,
        hub: &EventHub,
        order: &mut domain::order::Order,
        events: usize,
    ) {
        use domain::ports::{OrderChange, OrderRepository};
        let expected_version = order.version;
        order.version += 1;
        store
            .save_order(OrderChange {
                order,
                expected_version,
                lines_changed: false,
                events: vec![OrderEventKind::DraftUpdated { changed: vec![] }; events],
                actor_id: order.sales_rep_id,
                at: Utc::now(),
            })
            .await
            .unwrap();
        hub.committed();
    }

    /// Waits for `count` events (10 s at most each) and records their sequence numbers.
    async fn receive(sub: &mut Subscription, count: usize, received: &mut Vec<i64>) {
        for _ in 0..count {
            match tokio::time::timeout(Duration::from_secs(10), sub.recv()).await {
                Ok(Received::Event(event)) => received.push(event.seq),
                Ok(_) => panic!("the subscription ended after {} events", received.len()),
                Err(_) => panic!("no event within 10 s after {} events", received.len()),
            }
        }
    }

    #[tokio::test]
    async fn the_dispatcher_delivers_every_commit_in_order_without_its_poll() {
        use domain::ports::OrderRepository;
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("events.db").display()
        );
        let store = Store::connect(&url, &persistence::StoreOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        crate::seed::demo_if_empty(&store, 42).await.unwrap();
        let mut order = store
            .order_with_parties(OrderId(1))
            .await
            .unwrap()
            .unwrap()
            .order;
        let hub = EventHub::new(2 * DISPATCH_BATCH as usize);
        let mut all = hub.subscribe(Route::All);
        // Polled hourly: only the wake-ups after commits can deliver within the test.
        let _dispatcher = spawn_dispatcher(store.clone(), hub.clone(), Duration::from_secs(3600))
            .await
            .unwrap();
        let mut received = Vec::new();
        // One event, then commits in quick succession: each read ends on a short page.
        commit(&store, &hub, &mut order, 1).await;
        receive(&mut all, 1, &mut received).await;
        for _ in 0..3 {
            commit(&store, &hub, &mut order, 2).await;
        }
        receive(&mut all, 6, &mut received).await;
        // More than a page in one commit: the full page is followed by another read.
        let many = DISPATCH_BATCH as usize + 3;
        commit(&store, &hub, &mut order, many).await;
        receive(&mut all, many, &mut received).await;
        let first = received[0];
        let expected: Vec<i64> = (first..first + 7 + many as i64).collect();
        assert_eq!(received, expected, "every event once, in the log's order");
        assert!(
            tokio::time::timeout(Duration::from_millis(200), all.recv())
                .await
                .is_err(),
            "nothing more"
        );
    }

    #[tokio::test]
    async fn an_event_reaches_only_the_routes_it_concerns() {
        let hub = EventHub::new(16);
        let mut order_1 = hub.subscribe(Route::Order(OrderId(1)));
        let mut order_2 = hub.subscribe(Route::Order(OrderId(2)));
        let mut customer_7 = hub.subscribe(Route::Customer(CustomerId(7)));
        let mut rep_3 = hub.subscribe(Route::Rep(UserId(3)));
        let mut rep_4 = hub.subscribe(Route::Rep(UserId(4)));
        let mut all = hub.subscribe(Route::All);
        hub.dispatch(event(1, 1, 7, 3));
        assert_eq!(next_seq(&mut order_1).await, Some(1));
        assert_eq!(next_seq(&mut customer_7).await, Some(1));
        assert_eq!(next_seq(&mut rep_3).await, Some(1));
        assert_eq!(next_seq(&mut all).await, Some(1));
        assert_eq!(next_seq(&mut order_2).await, None);
        assert_eq!(next_seq(&mut rep_4).await, None);
    }

    #[tokio::test]
    async fn a_full_queue_cuts_only_that_subscriber_off_and_says_so() {
        let hub = EventHub::new(2);
        let mut slow = hub.subscribe(Route::All);
        let mut fast = hub.subscribe(Route::All);
        for seq in 1..=3 {
            hub.dispatch(event(seq, 1, 1, 1));
            assert_eq!(next_seq(&mut fast).await, Some(seq));
        }
        // The slow one gets what was queued, then the verdict; never a silent end.
        assert_eq!(next_seq(&mut slow).await, Some(1));
        assert_eq!(next_seq(&mut slow).await, Some(2));
        assert!(matches!(slow.recv().await, Received::Overflowed));
        assert_eq!(hub.cut_off(), 1);
        hub.dispatch(event(4, 1, 1, 1));
        assert_eq!(next_seq(&mut fast).await, Some(4));
    }

    #[tokio::test]
    async fn dropping_a_subscription_unregisters_it() {
        let hub = EventHub::new(4);
        let first = hub.subscribe(Route::Rep(UserId(1)));
        let _second = hub.subscribe(Route::Rep(UserId(1)));
        assert_eq!(hub.subscriber_count(), 2);
        drop(first);
        assert_eq!(hub.subscriber_count(), 1);
    }
}
