//! One graphql-transport-ws connection: the message loop over axum's websocket, with each
//! operation run by `schema.execute_stream`; an operation of one subscription field is parked
//! once its field has opened its feed, and then runs once per event ([`super::plan`]).
//!
//! Everything happens in the connection's own task, one message at a time, so a `subscribe`
//! arriving after `connection_init` always finds the connection acknowledged, and a `complete`
//! takes effect before the next message is read: nothing of a completed operation is sent after it.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use async_graphql::{Response, ServerError};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::Utc;
use futures_util::future::{AbortHandle, Either};
use futures_util::stream::{self, BoxStream, SelectAll};
use futures_util::{FutureExt, StreamExt};
use serde_json::{Map, Value};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

use super::Settings;
use super::plan::{Delivery, Plan, Plans};
use super::protocol::{self, ClientMessage, Close, ServerMessage};
use crate::graphql::error::ensure_codes;
use crate::graphql::loaders::loaders;
use crate::graphql::{ParkedFeed, Parking};
use crate::http::AppState;
use crate::http::auth::Auth;

/// Why the loop stops.
enum Stop {
    /// Close the socket with this code and reason.
    Close(Close),
    /// The client sent a close frame: let tungstenite send its answer, then stop.
    PeerClosed,
    /// The client went away (or stopped answering pings): nothing left to say.
    Gone,
}

impl From<Close> for Stop {
    fn from(close: Close) -> Self {
        Stop::Close(close)
    }
}

type Step = Result<(), Stop>;

/// An operation the client has subscribed to and not completed.
struct Active {
    /// Tells this run of the id apart from an earlier, completed one with the same id.
    generation: u64,
    abort: AbortHandle,
}

/// Something an operation's stream produced.
struct Output {
    id: Arc<str>,
    generation: u64,
    event: Event,
}

enum Event {
    Result(Box<Response>),
    /// The `payload` of a `next`, serialised once for every subscriber of the same plan.
    Payload(Arc<str>),
    /// The operation's field opened its feed and handed it over: from now on the operation runs
    /// once per event.
    Parked(Box<(ParkedFeed, Arc<Plan>)>),
    /// A resolver panicked: the operation fails, the connection goes on.
    Panicked,
    Ended,
}

struct Connection {
    state: AppState,
    settings: Settings,
    init_received: bool,
    /// Set once `connection_init` carried a valid token.
    auth: Option<Auth>,
    active: HashMap<String, Active>,
    outputs: SelectAll<BoxStream<'static, Output>>,
    generations: u64,
}

/// Serves one connection until either side closes it.
pub(super) async fn serve(mut socket: WebSocket, state: AppState, settings: Settings) {
    let mut connection = Connection {
        state,
        settings,
        init_received: false,
        auth: None,
        active: HashMap::new(),
        outputs: SelectAll::new(),
        generations: 0,
    };
    // First the wait for `connection_init`, then the token's expiry.
    let deadline = tokio::time::sleep(settings.init_timeout);
    tokio::pin!(deadline);
    let mut keepalive = tokio::time::interval_at(
        Instant::now() + settings.keepalive_interval,
        settings.keepalive_interval,
    );
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heard_since_ping = true;
    let mut shutdown = connection.state.shutdown.clone();

    let stop = loop {
        let step = tokio::select! {
            // The instance is stopping: tell the client to reconnect, to another instance.
            changed = shutdown.changed() => {
                let stopping = changed.is_err() || *shutdown.borrow();
                if stopping { Err(Close::service_restart().into()) } else { Ok(()) }
            }
            frame = socket.recv() => match frame {
                Some(Ok(frame)) => {
                    heard_since_ping = true;
                    // Boxed: an idle connection's task would otherwise hold the space of the
                    // largest handler (a subscribe) for as long as it is open.
                    Box::pin(connection.on_frame(frame, &mut socket, deadline.as_mut())).await
                }
                Some(Err(err)) => Err(read_failure(&err)),
                None => Err(Stop::Gone),
            },
            () = &mut deadline => Err(if connection.init_received {
                Close::forbidden("token expired")
            } else {
                Close::init_timeout()
            }
            .into()),
            Some(output) = connection.outputs.next(), if !connection.outputs.is_empty() => {
                Box::pin(connection.on_output(output, &mut socket)).await
            }
            _ = keepalive.tick() => {
                if heard_since_ping {
                    heard_since_ping = false;
                    // A websocket-level ping: every client answers it without knowing the
                    // subprotocol, and an unanswered one means the peer is gone.
                    Box::pin(send_frame(&mut socket, Message::Ping(Default::default()))).await
                } else {
                    tracing::debug!("websocket peer stopped answering pings");
                    Err(Stop::Gone)
                }
            }
        };
        if let Err(stop) = step {
            break stop;
        }
    };
    // Dropping the connection drops (and so ends) every operation still running.
    drop(connection);
    // Boxed, as the handlers are: the closing handshake happens once, at the end, and would
    // otherwise add its space to the task of every open connection.
    match stop {
        Stop::Close(close) => Box::pin(close_socket(socket, close, settings)).await,
        // tungstenite queued the answer to the client's close frame; the next read sends it.
        Stop::PeerClosed => Box::pin(drain(socket, settings)).await,
        Stop::Gone => {}
    }
}

impl Connection {
    async fn on_frame(
        &mut self,
        frame: Message,
        socket: &mut WebSocket,
        deadline: Pin<&mut Sleep>,
    ) -> Step {
        let message = match &frame {
            Message::Text(text) => protocol::parse(text.as_str()),
            // The protocol speaks text; like the reference server, take UTF-8 sent as binary.
            Message::Binary(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => protocol::parse(text),
                Err(_) => Err("Invalid message received: not UTF-8".to_owned()),
            },
            // tungstenite answers pings itself; pongs only show the peer is alive.
            Message::Ping(_) | Message::Pong(_) => return Ok(()),
            Message::Close(_) => return Err(Stop::PeerClosed),
        }
        .map_err(Close::bad_request)?;
        match message {
            ClientMessage::ConnectionInit(payload) => {
                self.on_init(payload.as_ref(), socket, deadline).await
            }
            ClientMessage::Ping => send(socket, &ServerMessage::Pong).await,
            ClientMessage::Pong => Ok(()),
            ClientMessage::Subscribe { id, request } => {
                self.on_subscribe(id, *request, socket).await
            }
            ClientMessage::Complete { id } => {
                if let Some(active) = self.active.remove(&id) {
                    active.abort.abort();
                }
                Ok(())
            }
        }
    }

    async fn on_init(
        &mut self,
        payload: Option<&Map<String, Value>>,
        socket: &mut WebSocket,
        deadline: Pin<&mut Sleep>,
    ) -> Step {
        if self.init_received {
            return Err(Close::too_many_inits().into());
        }
        self.init_received = true;
        let header = payload.and_then(|payload| {
            ["authorization", "Authorization"]
                .iter()
                .find_map(|key| payload.get(*key).and_then(Value::as_str))
        });
        let (auth, expires) = self.state.services.jwt.from_bearer_with_expiry(header);
        match &auth {
            Auth::User(_) => {}
            Auth::Anonymous => {
                return Err(Close::forbidden(
                    "connection_init needs {\"authorization\": \"Bearer <token>\"}",
                )
                .into());
            }
            Auth::Invalid(reason) => return Err(Close::forbidden(reason).into()),
        }
        // Verification allows clock leeway; a connection ends at `exp` itself.
        let remaining = expires.map(|at| (at - Utc::now()).to_std());
        match remaining {
            Some(Ok(remaining)) if !remaining.is_zero() => {
                deadline.reset(Instant::now() + remaining);
            }
            Some(_) => return Err(Close::forbidden("token expired").into()),
            // A verified token always has `exp`; should one not, nothing to wait for.
            None => deadline.reset(Instant::now() + FAR_FUTURE),
        }
        self.auth = Some(auth);
        send(socket, &ServerMessage::ConnectionAck).await
    }

    async fn on_subscribe(
        &mut self,
        id: String,
        mut request: async_graphql::Request,
        socket: &mut WebSocket,
    ) -> Step {
        let Some(auth) = &self.auth else {
            return Err(Close::unauthorized().into());
        };
        if self.active.contains_key(&id) {
            return Err(Close::subscriber_exists(&id).into());
        }
        if self.active.len() >= self.settings.max_subscriptions {
            let error = coded_error(
                &format!(
                    "a connection holds at most {} active subscriptions",
                    self.settings.max_subscriptions
                ),
                "LIMIT_EXCEEDED",
            );
            return send(
                socket,
                &ServerMessage::Error {
                    id: &id,
                    payload: &[error],
                },
            )
            .await;
        }
        self.state.parse_cache.prepare(&mut request);
        if crate::http::endpoint::is_mutation(&mut request) {
            // Changes go through POST /graphql, where rate limits, batching rules and the client
            // address apply; PROTOCOL.md leaves the choice of operations to the server.
            let error = coded_error(
                "mutations must be sent with POST /graphql",
                "BAD_USER_INPUT",
            );
            return send(
                socket,
                &ServerMessage::Error {
                    id: &id,
                    payload: &[error],
                },
            )
            .await;
        }
        let plan = self.state.plans.plan(&mut request);
        self.generations += 1;
        let generation = self.generations;
        let tag: Arc<str> = Arc::from(id.as_str());
        let events = match plan {
            // Loaders per operation: their cache dies with it, not with the connection.
            None => Either::Left(operation_events(
                &self.state.schema,
                request
                    .data(auth.clone())
                    .data(loaders(&self.state.services.store)),
                None,
            )),
            Some(plan) => {
                // Until its turn, the subscription holds its plan only: the request (its parsed
                // document and variables) is made again from the plan when it starts.
                drop(request);
                let schema = self.state.schema.clone();
                let store = self.state.services.store.clone();
                let auth = auth.clone();
                let starts = self.state.plans.starts();
                let start = async move {
                    let turn = starts.acquire_owned().await.ok();
                    let slot = Arc::new(Parking::default());
                    let request = plan
                        .request()
                        .data(auth)
                        .data(loaders(&store))
                        .data(Arc::clone(&slot));
                    operation_events(&schema, request, Some((slot, plan, turn)))
                };
                Either::Right(stream::once(start).flatten())
            }
        };
        let abort = self.run(tag, generation, events);
        self.active.insert(id, Active { generation, abort });
        Ok(())
    }

    /// Runs an operation's events as outputs of the connection, until aborted.
    fn run(
        &mut self,
        id: Arc<str>,
        generation: u64,
        events: impl futures_util::Stream<Item = Event> + Send + 'static,
    ) -> AbortHandle {
        let outputs = events.map(move |event| Output {
            id: Arc::clone(&id),
            generation,
            event,
        });
        let (outputs, abort) = stream::abortable(outputs);
        self.outputs.push(outputs.boxed());
        abort
    }

    async fn on_output(&mut self, output: Output, socket: &mut WebSocket) -> Step {
        let id = &*output.id;
        if self
            .active
            .get(id)
            .is_none_or(|active| active.generation != output.generation)
        {
            // Completed by the client (or failed) already.
            return Ok(());
        }
        match output.event {
            Event::Result(mut response) => {
                ensure_codes(&mut response);
                if response.data == async_graphql::Value::Null && !response.errors.is_empty() {
                    // Nothing was executed (invalid document, refused subscription, or a failed
                    // event): the operation ends with `error`, and no `complete` follows.
                    self.finish(id);
                    send(
                        socket,
                        &ServerMessage::Error {
                            id,
                            payload: &response.errors,
                        },
                    )
                    .await?;
                    let fell_behind = response.errors.iter().any(|e| {
                        e.extensions.as_ref().is_some_and(|ext| {
                            ext.get("code") == Some(&async_graphql::Value::from("RESYNC_REQUIRED"))
                        })
                    });
                    if fell_behind {
                        // The connection's queue overflowed: say so at the connection level,
                        // where every client library sees it, and let the client come back
                        // with its cursors.
                        return Err(Close::resync().into());
                    }
                    Ok(())
                } else {
                    send(
                        socket,
                        &ServerMessage::Next {
                            id,
                            payload: &response,
                        },
                    )
                    .await
                }
            }
            Event::Payload(payload) => send_next(socket, id, &payload).await,
            Event::Parked(parked) => {
                let (feed, plan) = *parked;
                let events = parked_events(feed, plan, Arc::clone(&self.state.plans));
                let abort = self.run(Arc::clone(&output.id), output.generation, events);
                if let Some(active) = self.active.get_mut(id) {
                    active.abort = abort;
                }
                Ok(())
            }
            Event::Panicked => {
                self.finish(id);
                let error = coded_error("internal error", "INTERNAL");
                send(
                    socket,
                    &ServerMessage::Error {
                        id,
                        payload: &[error],
                    },
                )
                .await
            }
            Event::Ended => {
                self.active.remove(id);
                send(socket, &ServerMessage::Complete { id }).await
            }
        }
    }

    /// Stops an operation that ends early.
    fn finish(&mut self, id: &str) {
        if let Some(active) = self.active.remove(id) {
            active.abort.abort();
        }
    }
}

/// An operation's results, run by async-graphql. With `parking`, the operation may park its feed:
/// then its last event hands the feed over (and gives back its turn to start).
fn operation_events(
    schema: &crate::graphql::AppSchema,
    request: async_graphql::Request,
    parking: Option<(Arc<Parking>, Arc<Plan>, Option<OwnedSemaphorePermit>)>,
) -> impl futures_util::Stream<Item = Event> + Send + 'static + use<> {
    let ended = async move {
        match parking {
            Some((slot, plan, turn)) => {
                drop(turn);
                match slot.take() {
                    Some(feed) => Event::Parked(Box::new((feed, plan))),
                    None => Event::Ended,
                }
            }
            None => Event::Ended,
        }
    };
    AssertUnwindSafe(schema.execute_stream(request))
        .catch_unwind()
        .map(|result| match result {
            Ok(response) => Event::Result(Box::new(response)),
            Err(panic) => panicked(&*panic),
        })
        .chain(stream::once(ended))
}

/// A parked operation's events: each one its feed yields, resolved by its plan (shared with the
/// plan's other subscribers), then the end of the feed.
fn parked_events(
    feed: ParkedFeed,
    plan: Arc<Plan>,
    plans: Arc<Plans>,
) -> impl futures_util::Stream<Item = Event> + Send + 'static {
    stream::unfold(Some((feed, plan, plans)), |state| async move {
        let (mut feed, plan, plans) = state?;
        let event = match feed.next().await {
            Some(Ok(event)) => event,
            Some(Err(error)) => {
                let mut error = error.into_server_error(async_graphql::Pos::default());
                // No position in the document to point at: the feed failed, not a field.
                error.locations.clear();
                let response = Response::from_errors(vec![error]);
                return Some((Event::Result(Box::new(response)), None));
            }
            None => return Some((Event::Ended, None)),
        };
        // Boxed: the stream lives as long as the subscription, the resolution only meanwhile.
        let delivery = AssertUnwindSafe(Box::pin(plans.deliver(&plan, &event)))
            .catch_unwind()
            .await;
        let event = match delivery {
            Ok(Delivery::Next(payload)) => Event::Payload(payload),
            Ok(Delivery::Failed(errors)) => {
                Event::Result(Box::new(Response::from_errors(errors.to_vec())))
            }
            Err(panic) => panicked(&*panic),
        };
        Some((event, Some((feed, plan, plans))))
    })
}

/// A resolver panicked: logged, and the operation fails with `INTERNAL`.
fn panicked(panic: &(dyn std::any::Any + Send)) -> Event {
    tracing::error!(
        panic = %crate::http::endpoint::panic_message(panic),
        "a subscription resolver panicked"
    );
    Event::Panicked
}

/// A `next` with a payload serialised already: the same text for every subscriber of a plan.
async fn send_next(socket: &mut WebSocket, id: &str, payload: &str) -> Step {
    match serde_json::to_string(id) {
        Ok(id) => {
            let text = format!(r#"{{"type":"next","id":{id},"payload":{payload}}}"#);
            send_frame(socket, Message::Text(text.into())).await
        }
        Err(err) => {
            tracing::error!(%err, "could not serialise a websocket message");
            Err(Close::internal().into())
        }
    }
}

/// A message over the size limit is refused with 1009 (tungstenite leaves the socket open for
/// it, but says so only in the error's text); any other read error means the peer is gone.
fn read_failure(err: &axum::Error) -> Stop {
    if err.to_string().contains("Message too long") {
        Stop::Close(Close::too_big())
    } else {
        Stop::Gone
    }
}

/// How long one message may take to be written to the client.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Good for "never" without overflowing `Instant`.
const FAR_FUTURE: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 24 * 3600);

fn coded_error(message: &str, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    error
}

async fn send(socket: &mut WebSocket, message: &ServerMessage<'_>) -> Step {
    match serde_json::to_string(message) {
        Ok(text) => send_frame(socket, Message::Text(text.into())).await,
        Err(err) => {
            tracing::error!(%err, "could not serialise a websocket message");
            Err(Close::internal().into())
        }
    }
}

/// A client that stops reading would otherwise hold the connection (and its subscriptions)
/// forever once the TCP window is full.
async fn send_frame(socket: &mut WebSocket, frame: Message) -> Step {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(frame)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Stop::Gone),
        Err(_) => {
            tracing::debug!("websocket peer stopped reading");
            Err(Stop::Gone)
        }
    }
}

/// Sends the close frame, then gives the client a moment to answer it so that it sees a clean
/// close with our code rather than a reset connection.
async fn close_socket(mut socket: WebSocket, close: Close, settings: Settings) {
    let frame = CloseFrame {
        code: close.code,
        reason: close.reason.into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_ok() {
        drain(socket, settings).await;
    }
}

/// Reads until the closing handshake is over (or the grace period is).
async fn drain(mut socket: WebSocket, settings: Settings) {
    let _ = tokio::time::timeout(settings.close_grace, async {
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}
