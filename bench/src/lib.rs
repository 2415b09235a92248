//! The measuring half of orderdesk's benchmark suite: what the `loadgen` binary needs that is worth
//! testing on its own.
//!
//! A benchmark that does not check its answers measures nothing, and one whose percentiles are
//! wrong misleads; both live here, away from the networking, so unit tests pin them down.
//!
//! # Layout
//! - [`latency`]: the hdrhistogram every measurement records into, and its summary (p50 .. max).
//! - [`check`]: the verdict on one response: HTTP 200, JSON, no GraphQL `errors`, and an expected
//!   field present.
//! - [`procfs`]: CPU time and resident memory of a process (the server's, or our own) from
//!   `/proc`, to report server CPU per request and memory per subscription.
//!
//! The binaries: `loadgen` (HTTP and websocket load, `src/bin/loadgen/`) and `baseline` (a plain
//! axum server answering a fixed 1 KiB JSON, the ceiling every result is compared with).
//! `bench/run.sh` starts them next to the real server and writes `docs/benchmarks.md`.

pub mod check;
pub mod latency;
pub mod procfs;
