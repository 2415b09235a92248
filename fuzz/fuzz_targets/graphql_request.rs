//! The `/graphql` request path up to, not including, the resolvers: the HTTP layer's JSON
//! decoding (`BatchRequest`), the `GET ?query=` decoding, the GraphQL parser, and validation
//! with our depth and complexity limits, on the development and on the production schema.
//!
//! Properties: nothing panics or hangs (run with `-timeout`), a document that does not parse is
//! never accepted, and every response serialises to JSON as the HTTP layer writes it.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Waker};

use api::graphql::{
    AppSchema, MAX_COMPLEXITY, MAX_DEPTH, MutationRoot, QueryRoot, SubscriptionRoot,
};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{BatchRequest, Request, Response, Schema, Value};
use libfuzzer_sys::fuzz_target;

/// Answers every request that passed parsing and validation with `null`, instead of running
/// resolvers: they need the services (a database); what is fuzzed here is everything before them.
struct StopBeforeResolvers;

impl ExtensionFactory for StopBeforeResolvers {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(StopBeforeResolvers)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for StopBeforeResolvers {
    async fn execute(
        &self,
        _ctx: &ExtensionContext<'_>,
        _operation_name: Option<&str>,
        _next: NextExecute<'_>,
    ) -> Response {
        Response::new(Value::Null)
    }
}

/// The schema as `api::graphql::build_schema` makes it (same limits and production switches),
/// without data and with [`StopBeforeResolvers`]. Keep the two in step.
fn schema(production: bool) -> AppSchema {
    let builder = Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .extension(StopBeforeResolvers);
    if production {
        builder
            .disable_introspection()
            .disable_suggestions()
            .finish()
    } else {
        builder.finish()
    }
}

static SCHEMAS: LazyLock<[AppSchema; 2]> = LazyLock::new(|| [schema(false), schema(true)]);

/// Polls a future that never waits on I/O (parsing and validation do not) to completion.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn check(schema: &AppSchema, request: Request) {
    let parses = async_graphql::parser::parse_query(&request.query).is_ok();
    let response = block_on(schema.execute(request));
    assert!(
        parses || !response.errors.is_empty(),
        "a document that does not parse was accepted"
    );
    serde_json::to_vec(&response).expect("every response serialises");
}

fn requests(body: &[u8]) -> Vec<Request> {
    let mut requests = Vec::new();
    // POST: what the endpoint does with the body.
    match serde_json::from_slice::<BatchRequest>(body) {
        Ok(BatchRequest::Single(request)) => requests.push(request),
        Ok(BatchRequest::Batch(batch)) => requests.extend(batch),
        Err(_) => {}
    }
    if let Ok(text) = std::str::from_utf8(body) {
        // The bare document, as a client library would put it in `query`.
        requests.push(Request::new(text));
        // GET: `?query=...&variables=...`.
        if let Ok(request) = async_graphql::http::parse_query_string(text) {
            requests.push(request);
        }
    }
    requests
}

fuzz_target!(|body: &[u8]| {
    for schema in SCHEMAS.iter() {
        for request in requests(body) {
            check(schema, request);
        }
    }
});
