//! The `/graphql` endpoint. The stock async-graphql-axum extractor accepts batches of any size,
//! mutations over GET, `text/plain` bodies (a CSRF "simple request") and streams bodies past
//! axum's limit; this endpoint reads requests itself and refuses all four before any resolver runs.

use std::panic::AssertUnwindSafe;

use async_graphql::Name;
use async_graphql::http::GraphiQLSource;
use async_graphql::parser::Positioned;
use async_graphql::parser::types::{OperationDefinition, OperationType};
use async_graphql::{BatchRequest, BatchResponse, Executor, Request, ServerError};
use std::net::SocketAddr;

use axum::extract::{
    ConnectInfo, FromRequestParts, Request as HttpRequest, State, WebSocketUpgrade,
};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use futures_util::FutureExt;

use super::{AppState, ClientAddress, ws};
use crate::graphql::error::ensure_codes;
use crate::graphql::loaders::loaders;
use crate::http::auth::Auth;
use crate::http::parse_cache::Validated;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Most operations in one batch.
pub const MAX_BATCH: usize = 10;

/// An HTTP-level refusal with a GraphQL-shaped body, so clients parse one error format.
fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body =
        serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// POST: one operation or a batch of up to ten queries, as `application/json`.
pub async fn post(State(state): State<AppState>, request: HttpRequest) -> Response {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let client = client_address(&parts.extensions);
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_USER_INPUT",
            "send GraphQL requests as `Content-Type: application/json`",
        );
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BAD_USER_INPUT",
            "request body is larger than 1 MiB",
        )
    };
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return too_large();
    }
    // Reads at most the limit, whatever Content-Length claimed (or chunked bodies never said).
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return too_large();
    };
    let batch: BatchRequest = match serde_json::from_slice(&bytes) {
        Ok(batch) => batch,
        Err(err) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                &format!("invalid GraphQL request body: {err}"),
            );
        }
    };
    let mut batch = batch;
    // One mark per request of the batch, in order (a batch past the limit is refused below).
    let mut validated = [Validated::default(); MAX_BATCH];
    match &mut batch {
        BatchRequest::Single(request) => validated[0] = state.parse_cache.prepare(request),
        BatchRequest::Batch(requests) => {
            for (request, mark) in requests.iter_mut().zip(&mut validated) {
                *mark = state.parse_cache.prepare(request);
            }
        }
    }
    if let BatchRequest::Batch(requests) = &mut batch {
        if requests.len() > MAX_BATCH {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                &format!("a batch holds at most {MAX_BATCH} operations"),
            );
        }
        // Money and orders move one mutation at a time: each gets its own response, retry and
        // idempotency key, never half a batch.
        if requests.iter_mut().any(is_mutation) {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "mutations cannot be batched",
            );
        }
    }
    let auth = state.services.jwt.from_bearer(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    if let Auth::Invalid(reason) = &auth {
        return unauthenticated(reason);
    }
    if let BatchRequest::Single(request) = &mut batch
        && is_mutation(request)
    {
        let user = match &auth {
            Auth::User(actor) => Some(actor.user_id),
            Auth::Anonymous | Auth::Invalid(_) => None,
        };
        if let Err(retry) = state.services.limits.mutation(user, client.0) {
            state.services.metrics.rate_limited();
            let seconds = retry.0.as_secs().max(1);
            let mut response = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "LIMIT_EXCEEDED",
                &format!("too many changes; try again in {seconds} s"),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            return response;
        }
    }
    let run = |request, validated| {
        execute_measured(
            &state,
            with_request_data(request, &state, auth.clone(), client),
            validated,
        )
    };
    let response = match batch {
        BatchRequest::Single(request) => BatchResponse::Single(run(request, validated[0]).await),
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            for (request, validated) in requests.into_iter().zip(validated) {
                responses.push(run(request, validated).await);
            }
            BatchResponse::Batch(responses)
        }
    };
    json_response(&response)
}

/// GET: a websocket upgrade starts subscriptions; `?query=` runs a query (never a mutation);
/// a browser without a query gets GraphiQL (not in production).
pub async fn get(State(state): State<AppState>, request: HttpRequest) -> Response {
    let (mut parts, _body) = request.into_parts();
    if parts.headers.contains_key(header::UPGRADE) {
        let protocol =
            match async_graphql_axum::GraphQLProtocol::from_request_parts(&mut parts, &()).await {
                Ok(protocol) => protocol,
                Err(status) => {
                    return (status, "unsupported websocket subprotocol").into_response();
                }
            };
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => ws::serve(upgrade, protocol, state),
            Err(rejection) => rejection.into_response(),
        };
    }
    let query = parts.uri.query().unwrap_or("");
    if query.is_empty() {
        if state.production {
            return refuse(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "GraphiQL is disabled in production",
            );
        }
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql")
                .title("orderdesk")
                .finish(),
        )
        .into_response();
    }
    let mut request = match async_graphql::http::parse_query_string(query) {
        Ok(request) => request,
        Err(err) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                &format!("invalid query string: {err}"),
            );
        }
    };
    let validated = state.parse_cache.prepare(&mut request);
    if is_mutation(&mut request) {
        let mut response = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_USER_INPUT",
            "mutations must be sent with POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let auth = state.services.jwt.from_bearer(
        parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    if let Auth::Invalid(reason) = &auth {
        return unauthenticated(reason);
    }
    let request = with_request_data(request, &state, auth, client_address(&parts.extensions));
    json_response(&BatchResponse::Single(
        execute_measured(&state, request, validated).await,
    ))
}

/// A token that was presented but does not verify stops the request before any resolver runs
/// (no token at all is fine: `login` needs none).
fn unauthenticated(reason: &str) -> Response {
    let mut response = refuse(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", reason);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn with_request_data(
    request: Request,
    state: &AppState,
    auth: Auth,
    client: ClientAddress,
) -> Request {
    request
        .data(auth)
        .data(client)
        .data(loaders(&state.services.store))
}

fn client_address(extensions: &axum::http::Extensions) -> ClientAddress {
    ClientAddress(
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip()),
    )
}

/// The one operation the request would run, with its name: the one it names, or the
/// document's only one; `None` when the document does not parse or the choice is ambiguous
/// (execution reports it).
fn the_operation(
    request: &mut Request,
) -> Option<(Option<&Name>, &Positioned<OperationDefinition>)> {
    let operation_name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    let mut selected =
        document
            .operations
            .iter()
            .filter(|(name, _)| match (&operation_name, name) {
                (Some(wanted), Some(name)) => wanted.as_str() == name.as_str(),
                _ => true,
            });
    match (selected.next(), selected.next()) {
        (Some(operation), None) => Some(operation),
        _ => None,
    }
}

/// The name the log line and `/metrics` give the request: the `operationName` it sent, else
/// the name its document gives the operation it runs (`query Order(...)`), so clients that
/// name operations only in the document are counted by name too.
fn operation_name(request: &mut Request) -> Option<String> {
    if let Some(name) = &request.operation_name {
        return Some(name.clone());
    }
    the_operation(request).and_then(|(name, _)| name.map(|name| name.to_string()))
}

/// Whether the request only asks about the schema (`__schema`, `__type`, `__typename` at the top
/// of the operation it would run), so it can be served with the introspection depth limit.
fn is_introspection_only(request: &mut Request) -> bool {
    use async_graphql::parser::types::Selection;
    the_operation(request).is_some_and(|(_, operation)| {
        operation.node.ty == OperationType::Query
            && operation
                .node
                .selection_set
                .node
                .items
                .iter()
                .all(|item| match &item.node {
                    Selection::Field(field) => field.node.name.node.starts_with("__"),
                    Selection::FragmentSpread(_) | Selection::InlineFragment(_) => false,
                })
    })
}

/// Whether the operation the request would run is a mutation. Unparsable documents are not:
/// execution reports their syntax errors. The document parsed here stays in the request, so
/// execution does not parse it again (parsing is a tenth of a simple query's CPU).
pub(crate) fn is_mutation(request: &mut Request) -> bool {
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    document.operations.iter().any(|(name, operation)| {
        let selected = match (&operation_name, name) {
            (Some(wanted), Some(name)) => wanted.as_str() == name.as_str(),
            _ => true,
        };
        selected && operation.node.ty == OperationType::Mutation
    })
}

/// Whether this request may run without the validation rules its document passed before
/// (`graphql::build_prevalidated_schema`). Only a query, which changes nothing: the values of
/// its variables are then checked as execution parses each argument, where a bad one fails its
/// field with `BAD_USER_INPUT` instead of the whole request. Two kinds of variables are left to
/// full validation, because execution alone would let them pass: an input object (its parse
/// ignores fields it does not know, where validation names them) and anything used by a
/// directive (`@include(if: $x)` reads a value that is not a boolean as false). The test for
/// directives is any `@` in the text: a false positive only costs the full validation.
fn may_skip_revalidation(request: &mut Request) -> bool {
    fn holds_object(value: &async_graphql::Value) -> bool {
        match value {
            async_graphql::Value::Object(_) => true,
            async_graphql::Value::List(items) => items.iter().any(holds_object),
            _ => false,
        }
    }
    if request.query.contains('@') || request.variables.values().any(holds_object) {
        return false;
    }
    the_operation(request).is_some_and(|(_, operation)| operation.node.ty == OperationType::Query)
}

/// The text a panic carried, for the log (never for the client).
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Executes one request and records its duration and error codes for `/metrics`.
/// `validated`: the parse cache's mark for its query text ([`super::parse_cache::ParseCache::prepare`]).
async fn execute_measured(
    state: &AppState,
    mut request: Request,
    validated: Validated,
) -> async_graphql::Response {
    let operation = operation_name(&mut request);
    if let Some(name) = &operation {
        tracing::Span::current().record("operation", name.as_str());
    }
    let started = std::time::Instant::now();
    let revalidation_free = may_skip_revalidation(&mut request);
    let prevalidated = revalidation_free && validated.0;
    let schema = match &state.introspection {
        Some(introspection) if is_introspection_only(&mut request) => introspection,
        _ if prevalidated => {
            state.services.metrics.prevalidated();
            &state.prevalidated
        }
        _ => &state.schema,
    };
    let query = (revalidation_free && !prevalidated).then(|| request.query.clone());
    let response = execute_caught(schema, request).await;
    if let Some(query) = query
        && response.errors.is_empty()
    {
        state.parse_cache.mark_validated(&query);
    }
    let codes = response.errors.iter().filter_map(|error| {
        error
            .extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .and_then(|code| match code {
                async_graphql::Value::String(code) => Some(code.clone()),
                _ => None,
            })
    });
    state
        .services
        .metrics
        .request(operation.as_deref(), started.elapsed(), codes);
    response
}

/// Executes one request; a panic in a resolver becomes an `INTERNAL` error for this request
/// only, and the server keeps serving.
pub async fn execute_caught<E: Executor>(
    executor: &E,
    request: Request,
) -> async_graphql::Response {
    let mut response = match AssertUnwindSafe(executor.execute(request))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            tracing::error!(panic = %panic_message(&*panic), "a resolver panicked");
            let mut error = ServerError::new("internal error", None);
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "INTERNAL");
            async_graphql::Response::from_errors(vec![error])
        }
    };
    ensure_codes(&mut response);
    response
}

fn json_response(response: &BatchResponse) -> Response {
    match serde_json::to_string(response) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(err) => {
            tracing::error!(%err, "could not serialise a response");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::*;

    struct Boom;

    #[Object]
    impl Boom {
        async fn boom(&self) -> i32 {
            let items: Vec<i32> = Vec::new();
            // An out-of-bounds index: the kind of bug that panics in production.
            items[usize::from(items.is_empty())]
        }
        async fn fine(&self) -> i32 {
            1
        }
    }

    #[tokio::test]
    async fn a_panicking_resolver_is_an_internal_error_and_the_schema_keeps_serving() {
        let schema = Schema::new(Boom, EmptyMutation, EmptySubscription);
        let response = execute_caught(&schema, Request::new("{ boom }")).await;
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["errors"][0]["extensions"]["code"], "INTERNAL");
        assert_eq!(json["errors"][0]["message"], "internal error");
        assert!(
            !json.to_string().contains("out of bounds"),
            "panic details must not leak: {json}"
        );
        let response = execute_caught(&schema, Request::new("{ fine }")).await;
        assert!(response.errors.is_empty());
    }

    #[test]
    fn introspection_only_requests_are_recognised() {
        assert!(is_introspection_only(&mut Request::new(
            "{ __schema { types { name } } }"
        )));
        assert!(is_introspection_only(&mut Request::new(
            "query I { __type(name: \"Order\") { name } __typename }"
        )));
        assert!(!is_introspection_only(&mut Request::new(
            "{ __schema { types { name } } orders { nodes { id } } }"
        )));
        assert!(!is_introspection_only(&mut Request::new(
            "mutation { __typename }"
        )));
        assert!(!is_introspection_only(&mut Request::new(
            "{ ...F } fragment F on Query { __typename }"
        )));
    }

    #[test]
    fn mutations_are_recognised_by_the_operation_that_would_run() {
        assert!(is_mutation(&mut Request::new("mutation { x }")));
        assert!(!is_mutation(&mut Request::new("{ x }")));
        let both = "query A { x } mutation B { y }";
        assert!(is_mutation(&mut Request::new(both).operation_name("B")));
        assert!(!is_mutation(&mut Request::new(both).operation_name("A")));
        assert!(!is_mutation(&mut Request::new("not graphql")));
    }

    #[test]
    fn requests_are_named_by_operation_name_or_else_by_their_document() {
        let name = |request: Request| operation_name(&mut { request });
        assert_eq!(
            name(Request::new("query Order { x }")).as_deref(),
            Some("Order")
        );
        let both = "query A { x } query B { y }";
        assert_eq!(
            name(Request::new(both).operation_name("B")).as_deref(),
            Some("B")
        );
        assert_eq!(name(Request::new(both)), None, "ambiguous: nothing runs");
        assert_eq!(name(Request::new("{ x }")), None);
        assert_eq!(name(Request::new("not graphql")), None);
        // What the client sent is kept, even unknown: execution reports it.
        assert_eq!(
            name(Request::new("query A { x }").operation_name("Z")).as_deref(),
            Some("Z")
        );
    }
}
