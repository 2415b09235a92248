//! Live events: one dispatcher per process tails the event log (the single source of truth) and
//! fans new events out to this instance's subscribers.
//!
//! Writers wake the dispatcher right after commit; a poll interval catches what other instances
//! committed (several instances on one PostgreSQL) or a wake-up that was missed. Sequence
//! numbers are handed out in commit order (see persistence `take_counter`), so reading
//! `seq > last_delivered` never skips an event.

use std::sync::Arc;
use std::time::Duration;

use domain::event::StoredEvent;
use domain::ports::EventLog;
use persistence::Store;
use tokio::sync::{Notify, broadcast};

/// Fan-out of committed events to subscribers in this process.
#[derive(Clone)]
pub struct EventHub {
    wake: Arc<Notify>,
    sender: broadcast::Sender<Arc<StoredEvent>>,
    delivered: Arc<std::sync::atomic::AtomicI64>,
}

impl EventHub {
    /// A hub whose subscribers may fall `capacity` events behind before they are told to resync.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self {
            wake: Arc::new(Notify::new()),
            sender,
            delivered: Arc::default(),
        }
    }

    /// The last sequence number the dispatcher handed to subscribers (for the lag metric).
    pub fn delivered(&self) -> i64 {
        self.delivered.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Called after a commit: the dispatcher reads the log now instead of at the next poll.
    pub fn committed(&self) {
        self.wake.notify_one();
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.sender.subscribe()
    }
}

/// Starts the dispatcher: from the current end of the log, forever (until the runtime stops).
pub async fn spawn_dispatcher(
    store: Store,
    hub: EventHub,
    poll: Duration,
) -> Result<Dispatcher, domain::ports::RepoError> {
    let mut cursor = store.last_seq().await?;
    hub.delivered
        .store(cursor, std::sync::atomic::Ordering::Relaxed);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                () = hub.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
            loop {
                match store.events_after(cursor, 500).await {
                    Ok(batch) if batch.is_empty() => break,
                    Ok(batch) => {
                        for event in batch {
                            cursor = event.seq;
                            hub.delivered
                                .store(cursor, std::sync::atomic::Ordering::Relaxed);
                            // No receivers is fine: nobody is subscribed right now.
                            let _ = hub.sender.send(Arc::new(event));
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
