//! The GraphQL schema: one `build_schema` sets limits, extensions and shared data in one place.

mod analytics;
mod archive;
pub mod error;
mod export;
mod kpi;
pub mod loaders;
mod mutation;
mod query;
mod review;
pub mod scalars;
mod settlement;
mod subscription;
mod tracking;
pub mod types;

use async_graphql::{Context, EmptyMutation, EmptySubscription, Schema};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::ports::{Page, PageRequest};
use domain::user::Actor;

use self::error::{ApiError, ApiResult};
use self::loaders::Loaders;
use crate::http::auth::Auth;
use crate::service::Services;

pub use self::mutation::MutationRoot;
pub use self::query::QueryRoot;
pub use self::subscription::{EventRoot, ParkedFeed, Parking, SubscriptionRoot};

/// The schema type served at `/graphql`.
pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Deepest query accepted.
pub const MAX_DEPTH: usize = 10;
/// Most expensive query accepted: each field costs 1, list fields multiply by `first`.
pub const MAX_COMPLEXITY: usize = 2_000;
/// Largest page.
pub const MAX_PAGE: i32 = 100;

/// Deepest introspection-only query accepted: GraphiQL's schema query nests type references
/// 13 levels deep; introspection never touches data, but unbounded nesting would still multiply.
pub const MAX_INTROSPECTION_DEPTH: usize = 15;

/// The schema that serves introspection-only requests (GraphiQL's documentation explorer, code
/// generators): the same types, a depth limit that fits the standard introspection query.
pub fn build_introspection_schema(services: Services) -> AppSchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .limit_depth(MAX_INTROSPECTION_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .data(services)
    .finish()
}

/// Builds the schema with its limits and the shared services. In production, introspection
/// and "Did you mean ...?" suggestions are off: the schema is not advertised to strangers.
pub fn build_schema(services: Services, production: bool) -> AppSchema {
    app_schema(services, production, async_graphql::ValidationMode::Strict)
}

/// The schema of [`build_schema`] validating only what its execution does not check itself:
/// the depth and complexity limits (computed with the request's variables) and fragment
/// cycles. For queries whose document already passed full validation (`http::parse_cache`):
/// the other rules look at the document alone and would pass again, and execution checks the
/// variables' values against their types as it parses each argument. Full validation was a
/// seventh of `order(id)`'s server CPU.
pub fn build_prevalidated_schema(services: Services, production: bool) -> AppSchema {
    app_schema(services, production, async_graphql::ValidationMode::Fast)
}

fn app_schema(
    services: Services,
    production: bool,
    validation: async_graphql::ValidationMode,
) -> AppSchema {
    let builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .validation_mode(validation)
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .data(services);
    if production {
        builder
            .disable_introspection()
            .disable_suggestions()
            .finish()
    } else {
        builder.finish()
    }
}

/// Runs a parked subscription's operation over one event (see [`EventRoot`]).
pub type EventSchema = Schema<EventRoot, EmptyMutation, EmptySubscription>;

/// The event schema. The operations it runs were validated, limits included, against the full
/// schema when they were subscribed, with the same fields and arguments: each event runs only
/// the checks execution itself needs.
pub fn build_event_schema(services: Services) -> EventSchema {
    Schema::build(EventRoot, EmptyMutation, EmptySubscription)
        .validation_mode(async_graphql::ValidationMode::Fast)
        .disable_introspection()
        .data(services)
        .finish()
}

/// The schema's SDL, as committed at `api/schema.graphql` (no data needed to print it).
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .finish()
    .sdl()
}

/// Typed access to what every resolver needs.
pub trait ContextExt {
    /// Shared services.
    fn services(&self) -> &Services;
    /// This request's loaders.
    fn loaders(&self) -> &Loaders;
    /// The authenticated caller, or `UNAUTHENTICATED`.
    fn actor(&self) -> ApiResult<Actor>;
}

impl ContextExt for Context<'_> {
    fn services(&self) -> &Services {
        self.data_unchecked::<Services>()
    }

    fn loaders(&self) -> &Loaders {
        match self.data_opt::<Loaders>() {
            Some(loaders) => loaders,
            None => &self.data_unchecked::<loaders::SharedLoaders>().0,
        }
    }

    fn actor(&self) -> ApiResult<Actor> {
        Services::actor(self.data_opt::<Auth>().unwrap_or(&Auth::Anonymous))
    }
}

const CURSOR_PREFIX: &str = "k:";

/// Opaque keyset cursor for a row key.
pub fn encode_cursor(key: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{key}"))
}

fn decode_cursor(cursor: &str) -> ApiResult<i64> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(CURSOR_PREFIX)?.parse().ok())
        .ok_or_else(|| ApiError::bad_input("after", "not a cursor returned by this API"))
}

/// Complexity of a list field: its children's cost times the page size. `first` is clamped to
/// what a page can hold and the product saturates, so a hostile `first: 2147483647` nested a few
/// levels deep is "too complex" rather than an arithmetic overflow (found by the
/// `graphql_operation` fuzz target: validation runs before authentication).
pub fn list_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let page = usize::try_from(first.unwrap_or(20).clamp(0, MAX_PAGE)).unwrap_or(0);
    page.saturating_mul(child_complexity)
}

/// Runs a field resolver's work in an allocation of its own.
///
/// async-graphql resolves every field of an object through one future, the type's
/// `resolve_field`, as large as the largest of the type's field resolvers, and moves it into a
/// fresh box for each field it resolves. A resolver that awaits the services holds their
/// futures (sea-orm's among them), about 2 KB; without this, `id` of each order in a page of 50
/// allocated and copied 2 KB, and each customer's `name` 3.6 KB. Resolvers of list items'
/// types that call the services wrap their body in this, so only the field that does the work
/// pays for one allocation of its size.
pub fn on_heap<F: std::future::Future>(work: F) -> std::pin::Pin<Box<F>> {
    Box::pin(work)
}

/// A Relay connection over one keyset page: `key` gives each item's cursor key, `node` its
/// GraphQL type.
pub fn connection<T, N: async_graphql::OutputType>(
    page: Page<T>,
    key: impl Fn(&T) -> i64,
    node: impl Fn(T) -> N,
) -> async_graphql::connection::Connection<String, N> {
    let mut connection = async_graphql::connection::Connection::new(false, page.has_next);
    connection.edges = page
        .items
        .into_iter()
        .map(|item| async_graphql::connection::Edge::new(encode_cursor(key(&item)), node(item)))
        .collect();
    connection
}

/// Validates `first` / `after`.
pub fn page_request(first: Option<i32>, after: Option<String>) -> ApiResult<PageRequest> {
    let first = first.unwrap_or(20);
    if !(0..=MAX_PAGE).contains(&first) {
        return Err(ApiError::bad_input(
            "first",
            format!("must be between 0 and {MAX_PAGE}"),
        ));
    }
    Ok(PageRequest {
        first: u32::try_from(first).unwrap_or(0),
        after: after.as_deref().map(decode_cursor).transpose()?,
    })
}

/// Parses a GraphQL `ID` into a database key.
pub fn parse_id(field: &str, id: &async_graphql::ID) -> ApiResult<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ApiError::bad_input(field, format!("`{}` is not an id", id.as_str())))
}

/// Parses an optional `ID` argument or filter field (absent stays absent).
pub trait OptionalId {
    /// The database key, if given; `BAD_USER_INPUT` naming `field` when it is not an id.
    fn optional_id(&self, field: &str) -> ApiResult<Option<i64>>;
}

impl OptionalId for Option<async_graphql::ID> {
    fn optional_id(&self, field: &str) -> ApiResult<Option<i64>> {
        self.as_ref().map(|id| parse_id(field, id)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_complexity_clamps_the_page_and_saturates() {
        assert_eq!(list_complexity(None, 3), 60);
        assert_eq!(list_complexity(Some(-5), 3), 0);
        assert_eq!(list_complexity(Some(i32::MAX), 3), 300);
        assert_eq!(list_complexity(Some(100), usize::MAX), usize::MAX);
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        assert!(decode_cursor("garbage").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("x:1")).is_err());
    }

    #[test]
    fn pages_are_capped_at_one_hundred() {
        assert!(page_request(Some(101), None).is_err());
        assert!(page_request(Some(-1), None).is_err());
        assert_eq!(page_request(Some(100), None).unwrap().first, 100);
    }
}
