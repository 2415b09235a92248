//! `baseline`: the ceiling every benchmark result is divided by. A plain axum server that answers
//! POST and GET `/` with the same 1 KiB JSON document, doing nothing else: whatever orderdesk
//! serves per second is compared with this, measured by the same load generator minutes apart on
//! the same cores, so the ratio survives a machine that is faster or busier than the last one.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use clap::Parser;
use serde_json::json;

/// Size of the fixed answer, in bytes: about what `order(id)` with its lines returns.
const BODY_BYTES: usize = 1024;

/// A plain axum server answering a fixed 1 KiB JSON document on `/` (GET and POST).
#[derive(Parser, Debug)]
#[command(name = "baseline", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    // One worker per core the process may run on: under `taskset -c 0` that is one, like the
    // server it stands in for (`available_parallelism` honours the CPU affinity mask).
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(args.bind))
}

async fn serve(bind: SocketAddr) -> std::io::Result<()> {
    let body = Bytes::from(fixed_body());
    let answer = move || {
        let body = body.clone();
        async move { ([(CONTENT_TYPE, "application/json")], body).into_response() }
    };
    let post_answer = answer.clone();
    let app = Router::new().route(
        "/",
        // The POST handler reads the request body, as any real endpoint must before answering.
        get(answer).post(move |_request: Bytes| post_answer()),
    );
    let listener = tokio::net::TcpListener::bind(bind).await?;
    // The same announcement as `orderdesk serve`, so scripts find the port the same way.
    println!("baseline listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}

/// A GraphQL-shaped document (`{"data": {...}}`) of exactly [`BODY_BYTES`] bytes, so the load
/// generator checks it like any other answer (`--expect data.items`).
fn fixed_body() -> Vec<u8> {
    let items: Vec<_> = (1..=8)
        .map(|i| json!({ "id": i.to_string(), "sku": format!("SKU-{i:04}"), "quantity": "10.000" }))
        .collect();
    let skeleton = json!({ "data": { "items": items, "padding": "" } }).to_string();
    let padding = BODY_BYTES
        .checked_sub(skeleton.len())
        .expect("the skeleton fits in the fixed size");
    json!({ "data": { "items": items, "padding": "x".repeat(padding) } })
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_answer_is_exactly_one_kib_of_valid_graphql_shaped_json() {
        let body = fixed_body();
        assert_eq!(body.len(), BODY_BYTES);
        let path = bench::check::FieldPath::parse("data.items.*.id").expect("path");
        bench::check::check_response(200, &body, Some(&path)).expect("passes the checks");
    }
}
