//! Targeted delivery and idle memory at scale. `--ws-targeted N`: N subscriptions, each to a
//! different order, and an open-loop driver making `--ws-rate` status changes per second spread
//! round-robin over those orders, so every event must reach exactly one subscriber (the server
//! has to route by order, not filter a broadcast). `--ws-idle N`: N subscriptions opened, proven
//! live, then left alone while the server's memory and CPU are read.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bench::check::parse_response;
use bench::latency::{LatencySummary, new_histogram, record};
use serde_json::Value;
use tokio::time::Instant;

use crate::Args;
use crate::client::{HttpConnection, Target};
use crate::orders::{self, OrderState};
use crate::report::{CpuUse, CpuWindow, ErrorTally, IdleReport, PairedReport, Phase, WsReport};
use crate::ws_load::{
    DEFAULT_SUBSCRIPTION, LIVE_TIMEOUT, PROBE_EVERY, SETTLE, Subscribe, Subscriptions,
    ensure_open_files, server_rss_kib,
};

/// Connections that read the states of the orders of `--ws-orders`.
const READERS: usize = 8;

/// Orders lent out one at a time, in turn: an order on loan (its change in flight) is skipped,
/// so no order gets a second change before the first was answered, and the next change always
/// starts from the version the previous answer gave.
#[derive(Debug)]
pub struct Rota<T> {
    items: Vec<Option<T>>,
    next: usize,
}

impl<T> Rota<T> {
    /// All of `items`, none on loan.
    pub fn new(items: Vec<T>) -> Self {
        Self {
            items: items.into_iter().map(Some).collect(),
            next: 0,
        }
    }

    /// The next item in turn that is not on loan, with its index; `None` when every item is.
    pub fn lend(&mut self) -> Option<(usize, T)> {
        let count = self.items.len();
        for step in 0..count {
            let index = (self.next + step) % count;
            if let Some(item) = self.items[index].take() {
                self.next = (index + 1) % count;
                return Some((index, item));
            }
        }
        None
    }

    /// The item at `index`, unless it is on loan (or retired).
    pub fn lend_at(&mut self, index: usize) -> Option<T> {
        self.items.get_mut(index)?.take()
    }

    /// Returns an item lent by [`lend`](Rota::lend) or [`lend_at`](Rota::lend_at).
    ///
    /// # Panics
    /// When the slot is not on loan: two holders of one order would be the very bug this type
    /// exists to prevent.
    pub fn give_back(&mut self, index: usize, item: T) {
        let slot = &mut self.items[index];
        assert!(slot.is_none(), "item {index} returned but never lent");
        *slot = Some(item);
    }

    /// Takes `index` out of the rotation for good.
    pub fn retire(&mut self, index: usize) -> Option<T> {
        self.items.get_mut(index)?.take()
    }

    /// The item at `index`, if it is not on loan.
    pub fn get(&self, index: usize) -> Option<&T> {
        self.items.get(index)?.as_ref()
    }
}

/// One change, answered.
struct Change {
    order: usize,
    /// The order's version after it: the version its event carries.
    version: i64,
    /// When it was due to be sent (the schedule's slot, or later if the timer was late).
    sent: Instant,
    answered: Instant,
}

/// What the driver's workers share.
struct Driver {
    target: Target,
    token: Option<String>,
    timeout: Duration,
    rota: Mutex<Rota<OrderState>>,
}

impl Driver {
    fn rota(&self) -> std::sync::MutexGuard<'_, Rota<OrderState>> {
        // A worker that panicked holding the lock left the rota consistent (lend and give_back
        // do not panic halfway), so the poison carries no information.
        self.rota.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection for the driver's next change, opened when there is none.
async fn connection<'a>(
    driver: &Driver,
    connection: &'a mut Option<HttpConnection>,
) -> Result<&'a mut HttpConnection, String> {
    match connection {
        Some(open) => Ok(open),
        None => {
            let open = HttpConnection::open(&driver.target, driver.token.as_deref()).await?;
            Ok(connection.insert(open))
        }
    }
}

/// One hold or resume of `order`, checked; on failure our idea of the order is read again, so one
/// failure does not turn every later change of the order into a conflict.
async fn move_order(
    driver: &Driver,
    slot: &mut Option<HttpConnection>,
    order: &mut OrderState,
) -> Result<(), (&'static str, String)> {
    let open = connection(driver, slot).await.map_err(|e| ("connect", e))?;
    let (status, answer) =
        match tokio::time::timeout(driver.timeout, open.post(order.next_request())).await {
            Ok(Ok(answer)) => answer,
            failed => {
                // The change may or may not have been made: start over on a new connection.
                *slot = None;
                if let Ok(open) = connection(driver, slot).await {
                    let _ = order.refresh(open).await;
                }
                return Err(match failed {
                    Ok(Err(e)) => ("io", e),
                    _ => ("timeout", format!("no answer within {:?}", driver.timeout)),
                });
            }
        };
    match parse_response(status, &answer, Some(&orders::transition_expectation())) {
        Ok(value) if order.apply_answer(&value) => Ok(()),
        Ok(value) => Err((
            "driver",
            format!("transitionOrder answer without the order's state: {value}"),
        )),
        Err(e) => {
            let _ = order.refresh(open).await;
            Err(("driver", e.to_string()))
        }
    }
}

/// The orders to watch: the first `count` of `--ws-orders`, or of the orders the token may hold
/// and resume.
async fn watched_orders(
    args: &Args,
    target: &Target,
    count: usize,
    least: usize,
) -> Result<Vec<OrderState>, String> {
    let token = args.token.as_deref();
    let mut found = match &args.ws_orders {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("read {}: {e}", path.display()))?;
            let mut ids =
                orders::parse_order_ids(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            if ids.len() < least {
                return Err(format!(
                    "{} lists {} orders; {least} are needed",
                    path.display(),
                    ids.len()
                ));
            }
            ids.truncate(count);
            orders::movable_orders(target, token, &ids, READERS).await?
        }
        None => {
            let mut setup = HttpConnection::open(target, token).await?;
            orders::holdable_orders(&mut setup, Some(count)).await?
        }
    };
    if found.len() < least {
        return Err(format!(
            "only {} orders visible to this token can be held or resumed now; {least} are \
             needed: one per subscription, and with --ws-control or --ws-paired as many more as \
             --connections for the control (fewer subscriptions, a token that sees more orders, \
             e.g. an admin's, or a larger database: `orderdesk seed --orders N`)",
            found.len()
        ));
    }
    found.truncate(count);
    Ok(found)
}

/// graphql-transport-ws does not acknowledge `subscribe`: change every order some of whose
/// subscriptions have not delivered an event yet, in rounds, until all have (or failed) or
/// [`LIVE_TIMEOUT`] has passed since the first round. Then the measured changes reach registered
/// subscribers only.
async fn probe(
    driver: &Arc<Driver>,
    subscriptions: &Subscriptions,
    orders: usize,
    workers: usize,
) -> ErrorTally {
    let mut errors = ErrorTally::default();
    let mut deadline = None;
    loop {
        let pending: Vec<usize> = (0..orders).filter(|&i| subscriptions.pending(i)).collect();
        if pending.is_empty() || deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return errors;
        }
        let queue = Arc::new(Mutex::new(pending));
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let (driver, queue) = (Arc::clone(driver), Arc::clone(&queue));
                tokio::spawn(async move {
                    let mut errors = ErrorTally::default();
                    let mut slot = None;
                    loop {
                        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).pop();
                        let Some(index) = next else {
                            return errors;
                        };
                        let Some(mut order) = driver.rota().lend_at(index) else {
                            continue;
                        };
                        if let Err((kind, e)) = move_order(&driver, &mut slot, &mut order).await {
                            errors.add(kind, format!("probing: {e}"));
                        }
                        driver.rota().give_back(index, order);
                    }
                })
            })
            .collect();
        for task in tasks {
            match task.await {
                Ok(failed) => errors.merge(failed),
                Err(e) => errors.add("driver", format!("a probing worker failed: {e}")),
            }
        }
        deadline.get_or_insert_with(|| Instant::now() + LIVE_TIMEOUT);
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// The subscriptions of a targeted or idle run, probed live, and the driver that probed them.
struct Setup {
    driver: Arc<Driver>,
    subscriptions: Subscriptions,
    orders: usize,
    errors: ErrorTally,
    rss_kib: Option<(u64, u64)>,
}

/// Opens a subscription per entry of `watching` to `orders` and probes them live, reading the
/// server's memory before and after.
async fn set_up(
    args: &Args,
    target: &Target,
    query: Option<String>,
    variables: Value,
    orders: Vec<OrderState>,
    watching: &[usize],
) -> Result<Setup, String> {
    let order_ids: Vec<String> = orders.iter().map(|order| order.id.clone()).collect();
    let count = order_ids.len();
    let driver = Arc::new(Driver {
        target: target.clone(),
        token: args.token.clone(),
        timeout: args.timeout,
        rota: Mutex::new(Rota::new(orders)),
    });
    let subscribe = Subscribe {
        query: query.unwrap_or_else(|| DEFAULT_SUBSCRIPTION.to_owned()),
        variables,
        set_order_id: true,
        unique: args.ws_unique,
    };
    let rss_before = server_rss_kib(args);
    let subscriptions =
        Subscriptions::open(target, args.token.clone(), subscribe, order_ids, watching).await;
    let errors = probe(&driver, &subscriptions, count, args.connections).await;
    tokio::time::sleep(SETTLE).await;
    let rss_after = server_rss_kib(args);
    Ok(Setup {
        driver,
        subscriptions,
        orders: count,
        errors,
        rss_kib: rss_before.zip(rss_after),
    })
}

/// Runs the targeted-delivery scenario and prints the report.
pub async fn run(
    args: &Args,
    target: Target,
    subscribers: usize,
    rate: f64,
    query: Option<String>,
    variables: Value,
) -> Result<(), String> {
    if subscribers == 0 {
        return Err("--ws-targeted needs at least one subscriber".to_owned());
    }
    if !(rate.is_finite() && rate > 0.0) {
        return Err(format!("--ws-rate must be a positive number, not {rate}"));
    }
    if args.ws_paired == Some(0) {
        return Err("--ws-paired needs at least one round".to_owned());
    }
    ensure_open_files(subscribers + args.connections)?;
    let paired = args.ws_paired.unwrap_or(0);
    let with_control = args.ws_control || paired > 0;
    let mut orders = if with_control {
        // As many unwatched orders as watched ones if there are, but enough for the changes in
        // flight will do: the 1M-order database has fewer than 20,000 orders that can be held.
        let least = subscribers + args.connections;
        watched_orders(args, &target, 2 * subscribers, least).await?
    } else {
        watched_orders(args, &target, subscribers, subscribers).await?
    };
    let unwatched = orders.split_off(subscribers);
    let watching: Vec<usize> = (0..subscribers).collect();
    let Setup {
        driver,
        subscriptions,
        orders: count,
        mut errors,
        rss_kib,
    } = set_up(args, &target, query, variables, orders, &watching).await?;

    // Orders whose subscriber never became live are not changed: nobody would receive it.
    {
        let mut rota = driver.rota();
        for index in 0..count {
            if subscriptions.live_on(index) == 0 {
                rota.retire(index);
            } else if let Some(order) = rota.get(index) {
                subscriptions.measure_above(index, order.version);
            }
        }
    }
    let live = subscriptions.live();
    if live == 0 {
        return Err("no subscription received its probe event: nothing to measure".to_owned());
    }
    // The same subscriptions stay open in a control phase, but the changes go to orders nobody
    // watches: the difference from a delivered phase is what the deliveries cost.
    let mut other_rota = Rota::new(unwatched);
    let mut phases = Vec::new();
    if !args.warmup.is_zero() {
        // Not measured: the connections, the plans' caches and the database's pages warm up.
        phases.push((!args.ws_control, args.warmup, false));
    }
    if paired > 0 {
        for round in 0..paired {
            let delivered_first = round % 2 == 0;
            phases.push((delivered_first, args.duration, true));
            phases.push((!delivered_first, args.duration, true));
        }
    } else {
        phases.push((!args.ws_control, args.duration, true));
    }

    let mut changes = Vec::new();
    let (mut made_in_all, mut awaited) = (0, 0);
    let mut measured = Vec::new();
    let mut cpu_total: Option<CpuUse> = None;
    for (delivers, duration, counts) in phases {
        if !delivers {
            std::mem::swap(&mut *driver.rota(), &mut other_rota);
        }
        let cpu = CpuWindow::start(args.server_pid);
        let (made, failed) = drive_for(&driver, args.connections, rate, duration).await?;
        errors.merge(failed);
        if delivers {
            // One subscriber per order: every answered change is due exactly one delivery.
            awaited += made.len() as u64;
            let grace_end = Instant::now() + args.timeout;
            while subscriptions.measured() < awaited && Instant::now() < grace_end {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let cpu = cpu.finish();
        if !delivers {
            std::mem::swap(&mut *driver.rota(), &mut other_rota);
        }
        if !counts {
            continue;
        }
        made_in_all += made.len() as u64;
        measured.push(Phase {
            delivers,
            changes: made.len() as u64,
            server: cpu.server.unwrap_or_default(),
        });
        // The report's figures are the delivered phases' (or the control's, in a control run).
        if delivers != args.ws_control {
            cpu_total = Some(cpu_total.map_or(cpu, |total| total.plus(&cpu)));
        }
        if delivers {
            changes.extend(made);
        }
    }
    let cpu = cpu_total.unwrap_or_default();
    // The measured phases' own time, from their first change to their last delivery.
    let window = cpu.wall;
    let expected = changes.len() as u64;

    // Control changes are of other orders, numbered apart: no arrival matches them.
    let by_event: HashMap<(usize, i64), &Change> = changes
        .iter()
        .map(|change| ((change.order, change.version), change))
        .collect();
    let mut histogram = new_histogram();
    let mut received = HashSet::new();
    let (mut delivered, mut early, mut late, mut duplicates) = (0, 0, 0, 0);
    for seen in subscriptions.finish().await? {
        seen.tally(&mut errors);
        for &(version, arrived) in &seen.arrivals {
            // Probe events, and those of changes whose answer was lost (an error already).
            let Some(change) = by_event.get(&(seen.order, version)) else {
                continue;
            };
            if !received.insert((seen.order, version)) {
                duplicates += 1;
                continue;
            }
            let latency = arrived.saturating_duration_since(change.sent);
            if latency > args.timeout {
                late += 1;
                continue;
            }
            delivered += 1;
            if arrived < change.answered {
                early += 1;
            }
            record(&mut histogram, latency);
        }
    }
    if delivered + late < expected {
        errors.add_many(
            "missing",
            expected - delivered - late,
            format!(
                "deliveries that never arrived ({:?} of grace)",
                args.timeout
            ),
        );
    }
    if late > 0 {
        errors.add_many(
            "late",
            late,
            format!("deliveries later than --timeout {:?}", args.timeout),
        );
    }
    if duplicates > 0 {
        errors.add_many("duplicate", duplicates, "an event delivered more than once");
    }
    WsReport {
        label: args.label.clone(),
        mode: if args.ws_control {
            "ws-targeted-control"
        } else {
            "ws-targeted"
        },
        subscribers: live,
        changes: if args.ws_control {
            made_in_all
        } else {
            expected
        },
        target_rate: Some(rate),
        expected,
        delivered,
        early,
        errors,
        latency_from_send: true,
        latency: LatencySummary::from_histogram(&histogram),
        window,
        cpu,
        server_pid: args.server_pid,
        server_rss_kib: rss_kib,
    }
    .print(args.json);
    if paired > 0 {
        PairedReport {
            label: args.label.clone(),
            phases: measured,
        }
        .print(args.json);
    }
    Ok(())
}

/// Makes changes at `rate` for `duration` with `connections` workers; returns those answered.
async fn drive_for(
    driver: &Arc<Driver>,
    connections: usize,
    rate: f64,
    duration: Duration,
) -> Result<(Vec<Change>, ErrorTally), String> {
    let start = Instant::now();
    let schedule = Arc::new(Schedule {
        start,
        end: start + duration,
        rate,
        next_slot: AtomicU64::new(0),
    });
    let workers: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(drive(Arc::clone(driver), Arc::clone(&schedule))))
        .collect();
    let (mut changes, mut errors) = (Vec::new(), ErrorTally::default());
    for worker in workers {
        let (made, failed) = worker.await.map_err(|e| format!("a driver failed: {e}"))?;
        changes.extend(made);
        errors.merge(failed);
    }
    Ok((changes, errors))
}

/// The open-loop schedule: change number `i` is due at `start + i / rate`.
struct Schedule {
    start: Instant,
    end: Instant,
    rate: f64,
    next_slot: AtomicU64,
}

impl Schedule {
    /// When change number `slot` is due, or `None` past the end.
    fn due(&self, slot: u64) -> Option<Instant> {
        #[allow(clippy::cast_precision_loss)] // Slot numbers stay far below 2^53.
        let offset = Duration::try_from_secs_f64(slot as f64 / self.rate).ok()?;
        let due = self.start.checked_add(offset)?;
        (due < self.end).then_some(due)
    }
}

/// One driver worker: claims the schedule's next slot, waits for it, changes the next order in
/// turn. Latency counts from the slot when the worker was late for it (it was busy with the
/// previous change), so a slow server shows as latency, not as a lower rate.
async fn drive(driver: Arc<Driver>, schedule: Arc<Schedule>) -> (Vec<Change>, ErrorTally) {
    let (mut changes, mut errors) = (Vec::new(), ErrorTally::default());
    let mut slot = None;
    loop {
        let Some(due) = schedule.due(schedule.next_slot.fetch_add(1, Ordering::Relaxed)) else {
            return (changes, errors);
        };
        let sent = if due > Instant::now() {
            tokio::time::sleep_until(due).await;
            Instant::now()
        } else {
            due
        };
        let Some((index, mut order)) = driver.rota().lend() else {
            errors.add(
                "busy",
                "every order still had a change in flight: more subscriptions (orders) or a \
                 lower --ws-rate",
            );
            continue;
        };
        let result = move_order(&driver, &mut slot, &mut order).await;
        let answered = Instant::now();
        let version = order.version;
        driver.rota().give_back(index, order);
        match result {
            Ok(()) => changes.push(Change {
                order: index,
                version,
                sent,
                answered,
            }),
            Err((kind, e)) => errors.add(kind, e),
        }
    }
}

/// Runs the idle scenario and prints the report: N subscriptions, to `--ws-order` if given, else
/// each to a different order (as in `--ws-targeted`).
pub async fn run_idle(
    args: &Args,
    target: Target,
    subscribers: usize,
    query: Option<String>,
    variables: Value,
) -> Result<(), String> {
    if subscribers == 0 {
        return Err("--ws-idle needs at least one subscriber".to_owned());
    }
    ensure_open_files(subscribers + args.connections)?;
    let (orders, watching) = match &args.ws_order {
        Some(id) => {
            let mut setup = HttpConnection::open(&target, args.token.as_deref()).await?;
            let order = orders::movable_order(&mut setup, id).await?;
            (vec![order], vec![0; subscribers])
        }
        None => (
            watched_orders(args, &target, subscribers, subscribers).await?,
            (0..subscribers).collect(),
        ),
    };
    let Setup {
        subscriptions,
        mut errors,
        rss_kib,
        ..
    } = set_up(args, &target, query, variables, orders, &watching).await?;
    let live = subscriptions.live();

    let cpu = CpuWindow::start(args.server_pid);
    tokio::time::sleep(args.duration).await;
    let cpu = cpu.finish();
    let rss_end = server_rss_kib(args);
    for seen in subscriptions.finish().await? {
        seen.tally(&mut errors);
    }
    IdleReport {
        label: args.label.clone(),
        asked: subscribers,
        subscribers: live,
        errors,
        window: cpu.wall,
        cpu,
        server_pid: args.server_pid,
        server_rss_kib: rss_kib,
        server_rss_kib_end: rss_end,
    }
    .print(args.json);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rota_lends_items_in_turn_and_wraps_around() {
        let mut rota = Rota::new(vec!['a', 'b', 'c']);
        let mut lent = Vec::new();
        for _ in 0..6 {
            let (index, item) = rota.lend().expect("a free item");
            lent.push(item);
            rota.give_back(index, item);
        }
        assert_eq!(lent, ['a', 'b', 'c', 'a', 'b', 'c']);
    }

    #[test]
    fn an_item_on_loan_is_skipped_and_never_lent_twice() {
        let mut rota = Rota::new(vec![0, 1, 2]);
        let (slow, _) = rota.lend().expect("item 0");
        // Item 0 is still out: the rota goes round the others only.
        let mut turns = Vec::new();
        for _ in 0..4 {
            let (index, item) = rota.lend().expect("a free item");
            assert_ne!(index, slow);
            turns.push(index);
            rota.give_back(index, item);
        }
        assert_eq!(turns, [1, 2, 1, 2]);
        assert_eq!(rota.lend_at(slow), None);
    }

    #[test]
    fn when_every_item_is_on_loan_there_is_nothing_to_lend() {
        let mut rota = Rota::new(vec!["x", "y"]);
        let first = rota.lend().expect("x");
        let second = rota.lend().expect("y");
        assert_eq!(rota.lend(), None);
        rota.give_back(second.0, second.1);
        assert_eq!(rota.lend(), Some(second));
        assert!(Rota::<u8>::new(Vec::new()).lend().is_none());
        rota.give_back(first.0, first.1);
    }

    #[test]
    fn many_holders_never_hold_the_same_item_at_once() {
        // A deterministic interleaving of lends and returns, checked against a set of what is out.
        let mut rota = Rota::new((0..7).collect::<Vec<usize>>());
        let mut out: Vec<(usize, usize)> = Vec::new();
        for step in 0..1_000_usize {
            if step % 3 == 2 && !out.is_empty() {
                let (index, item) = out.remove(step % out.len());
                rota.give_back(index, item);
            } else if let Some((index, item)) = rota.lend() {
                assert_eq!(index, item);
                assert!(
                    out.iter().all(|&(held, _)| held != index),
                    "{index} lent twice"
                );
                out.push((index, item));
            } else {
                assert_eq!(out.len(), 7, "nothing to lend while some items are free");
            }
        }
    }

    #[test]
    fn a_retired_item_is_never_lent_again() {
        let mut rota = Rota::new(vec!['a', 'b']);
        assert_eq!(rota.retire(0), Some('a'));
        for _ in 0..3 {
            let (index, item) = rota.lend().expect("b");
            assert_eq!(item, 'b');
            rota.give_back(index, item);
        }
        assert_eq!(rota.get(0), None);
    }

    #[test]
    #[should_panic(expected = "never lent")]
    fn returning_an_item_that_was_not_lent_is_a_bug() {
        let mut rota = Rota::new(vec![1]);
        rota.give_back(0, 1);
    }

    #[test]
    fn the_schedule_spaces_changes_by_the_rate_and_stops_at_the_end() {
        let start = Instant::now();
        let schedule = Schedule {
            start,
            end: start + Duration::from_secs(1),
            rate: 4.0,
            next_slot: AtomicU64::new(0),
        };
        let due: Vec<_> = (0..6)
            .map_while(|slot| schedule.due(slot))
            .map(|due| due - start)
            .collect();
        assert_eq!(due, [0, 250, 500, 750].map(Duration::from_millis).to_vec());
    }
}
