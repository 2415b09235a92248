//! HTTP: the router, the GraphQL endpoint (POST for operations, GET for GraphiQL and websocket
//! subscriptions), health checks, and the JWT extraction.

pub mod auth;
pub mod endpoint;
pub mod metrics;
pub mod parse_cache;
pub mod request_id;
mod ws;

pub use self::ws::Plans;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::graphql::AppSchema;
use crate::service::Services;

/// The client's address, as the TCP peer (behind a load balancer this is the balancer).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The schema.
    pub schema: AppSchema,
    /// The same schema for queries whose document passed full validation before: it skips
    /// the rules that look at the document alone (see `graphql::build_prevalidated_schema`).
    pub prevalidated: AppSchema,
    /// The services (also inside the schema's data).
    pub services: Services,
    /// Production mode: no GraphiQL, no introspection, no suggestions.
    pub production: bool,
    /// Serves introspection-only requests (a deeper limit; `None` in production, where
    /// introspection is off).
    pub introspection: Option<AppSchema>,
    /// Turns true when the instance starts shutting down (websockets close with 1012).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Parsed documents of the operations clients keep sending.
    pub parse_cache: std::sync::Arc<parse_cache::ParseCache>,
    /// What parked subscriptions run on each event, shared by identical subscriptions.
    pub plans: std::sync::Arc<Plans>,
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(endpoint::get).post(endpoint::post))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .layer(DefaultBodyLimit::max(endpoint::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(request_id::assign))
        .with_state(state)
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let services = &state.services;
    let snapshot = metrics::Snapshot {
        newest_event: domain::ports::EventLog::last_seq(&services.store)
            .await
            .unwrap_or(0),
        delivered_event: services.hub.delivered(),
        resynced_subscriptions: services.hub.cut_off(),
        pool: services.store.pool_stats(),
        inline_reads: services.store.inline_reads().unwrap_or_default(),
        inline_write_statements: services.store.inline_write_statements().unwrap_or_default(),
    };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        services.metrics.render(&snapshot),
    )
        .into_response()
}

/// Ready when the database answers and its schema is this version's: an instance started
/// before `orderdesk migrate` ran must not receive traffic.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.services.store.pending_migrations().await {
        Ok(0) => (StatusCode::OK, "ready").into_response(),
        Ok(pending) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{pending} database migrations pending"),
        )
            .into_response(),
        Err(err) => {
            tracing::warn!(%err, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}
