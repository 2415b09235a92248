//! The `/graphql` request path up to, not including, the resolvers: the HTTP layer's JSON
//! decoding (`BatchRequest`), the `GET ?query=` decoding, the GraphQL parser, and validation
//! with our depth and complexity limits, on the development and on the production schema.
//!
//! Properties: nothing panics or hangs (run with `-timeout`), a document that does not parse is
//! never accepted, and every response serialises to JSON as the HTTP layer writes it.
//! Byte-level inputs rarely make valid operations; `graphql_operation` generates those.
#![no_main]

#[path = "common/schema.rs"]
mod schema;

use async_graphql::{BatchRequest, Request};
use libfuzzer_sys::fuzz_target;

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
    for schema in schema::SCHEMAS.iter() {
        for request in requests(body) {
            schema::check(schema, request);
        }
    }
});
