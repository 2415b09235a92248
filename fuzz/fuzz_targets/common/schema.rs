//! The schema as the server builds it, without data and stopped before the resolvers; shared by
//! the GraphQL fuzz targets.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Waker};

use api::graphql::{
    AppSchema, MAX_COMPLEXITY, MAX_DEPTH, MutationRoot, QueryRoot, SubscriptionRoot,
};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{Request, Response, Schema, Value};

/// Answers every request that passed parsing and validation with `null`, instead of running
/// resolvers: they need the services (a database); what is fuzzed is everything before them.
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
    let builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
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

/// The development and the production schema.
pub static SCHEMAS: LazyLock<[AppSchema; 2]> = LazyLock::new(|| [schema(false), schema(true)]);

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

/// Parses and validates `request` as the server would, and checks what holds for any input: a
/// document that does not parse is never accepted, and the response serialises to JSON.
/// Returns the response.
///
/// `FUZZ_SHOW_ACCEPTED=1 fuzz/target/<triple>/release/<target> -runs=0 fuzz/corpus/<target>`
/// lists the operations of a corpus that passed validation.
pub fn check(schema: &AppSchema, request: Request) -> Response {
    let parses = async_graphql::parser::parse_query(&request.query).is_ok();
    let shown = std::env::var_os("FUZZ_SHOW_ACCEPTED").map(|_| request.query.clone());
    let response = block_on(schema.execute(request));
    if let Some(query) = shown.filter(|_| response.errors.is_empty()) {
        eprintln!("accepted {query:?}");
    }
    assert!(
        parses || !response.errors.is_empty(),
        "a document that does not parse was accepted"
    );
    serde_json::to_vec(&response).expect("every response serialises");
    response
}
