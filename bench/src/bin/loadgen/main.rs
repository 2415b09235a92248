//! `loadgen`: orderdesk's load generator. Sends a GraphQL operation over HTTP/1.1 keep-alive
//! connections at a fixed concurrency (closed loop) or a fixed rate (open loop), or opens many
//! graphql-transport-ws subscriptions and measures how fast a status change reaches them. Every
//! response is checked (HTTP 200, JSON, no `errors`, optionally an expected field); a failed check
//! is an error, counted and reported, never a fast success.
//!
//! Modes (see `--help`):
//! - default: HTTP load with `--query`/`--variables` (`--unique-var` gives each request its own
//!   value, e.g. an idempotency key);
//! - `--hold-resume`: `transitionOrder` on distinct orders, each connection alternating ON_HOLD
//!   and resume on the orders it owns, following their versions;
//! - `--ws N`: N subscriptions to one order plus a driver that changes its status (fan-out);
//! - `--ws-targeted N`: N subscriptions, each to a different order, and `--ws-rate` changes per
//!   second spread over those orders (targeted delivery);
//! - `--ws-idle N`: N subscriptions left idle, for the server's memory per connection;
//! - `--once`: one request, checked, its answer (or `--print` fields) on stdout, for scripts.

mod client;
mod http_load;
mod orders;
mod report;
mod ws_load;
mod ws_targeted;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bench::check::{FieldPath, parse_response};
use clap::Parser;
use serde_json::{Value, json};

use crate::client::{HttpConnection, Target};

/// orderdesk's load generator: GraphQL over HTTP/1.1 keep-alive (closed or open loop) and over
/// graphql-transport-ws, with every answer checked.
#[derive(Parser, Debug)]
#[command(name = "loadgen", version)]
pub struct Args {
    /// The GraphQL endpoint, e.g. http://127.0.0.1:8080/graphql (plain HTTP only). In `--ws`
    /// mode the websocket URL is derived from it (ws://.../graphql).
    #[arg(long)]
    pub url: String,
    /// Websocket modes: open the subscriptions on this endpoint (another instance, e.g.
    /// http://127.0.0.1:8081/graphql) while the changes go to `--url`: measures how fast a
    /// change committed on one instance reaches a subscriber of another.
    #[arg(long)]
    pub subscribe_url: Option<String>,
    /// The GraphQL operation (in the websocket modes: the subscription; it must select `version`,
    /// and `orderId` for events of other orders to be caught).
    #[arg(long, conflicts_with = "query_file")]
    pub query: Option<String>,
    /// Read the GraphQL operation from a file.
    #[arg(long)]
    pub query_file: Option<PathBuf>,
    /// The operation's variables as a JSON object.
    #[arg(long, conflicts_with = "variables_file")]
    pub variables: Option<String>,
    /// Read the variables from a JSON file.
    #[arg(long)]
    pub variables_file: Option<PathBuf>,
    /// Bearer token sent on every request (and in `connection_init` for websockets).
    #[arg(long, env = "LOADGEN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Connections kept open. Closed loop: each sends its next request when the previous one is
    /// answered. With `--rate`: the most requests in flight at once. With `--ws-targeted` and
    /// `--ws-idle`: the driver's connections (the most status changes in flight at once).
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Open loop: send this many requests per second on a fixed schedule, whatever the server
    /// does; latency is measured from each request's scheduled time, so a stalled server shows
    /// as latency instead of silently lowering the send rate (coordinated omission).
    #[arg(long)]
    pub rate: Option<f64>,
    /// How long to measure, e.g. 10s, 500ms, 2m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load sent before measuring starts (connections opened, caches warm); not counted.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// A request not answered within this is an error (and its connection is replaced). With
    /// `--ws-targeted`: also a delivery that has not arrived this long after its change was sent.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// A dotted path that must be present and non-null in every answer, e.g. `data.order.id`;
    /// numbers index arrays and `*` means every element (`data.orders.nodes.*.id`).
    #[arg(long)]
    pub expect: Option<String>,
    /// Set this variable to a value unique to each request (e.g. `key` for an idempotency key).
    #[arg(long)]
    pub unique_var: Option<String>,
    /// Workload: `transitionOrder` on distinct orders. Fetches the orders the token may put on
    /// hold or resume, gives each connection its own, and alternates ON_HOLD / resume on them.
    #[arg(long, conflicts_with_all = ["query", "query_file", "unique_var", "ws"])]
    pub hold_resume: bool,
    /// Websocket mode: open this many graphql-transport-ws subscriptions to `--ws-order`.
    #[arg(long, requires = "ws_order")]
    pub ws: Option<usize>,
    /// The order the `--ws` driver puts on hold and resumes (its subscribers watch it).
    #[arg(long)]
    pub ws_order: Option<String>,
    /// Targeted delivery's control run: the same subscriptions are opened and proven live, but
    /// the changes go to other orders, which nobody watches (as many as there are subscribers if
    /// the token can move that many, else at least `--connections`). The server's CPU per change,
    /// against a run without it, is the cost of the deliveries alone: the same changes, the same
    /// open connections.
    #[arg(long, requires = "ws_targeted")]
    pub ws_control: bool,
    /// Targeted delivery in paired rounds: each round is a phase of `--duration` whose changes
    /// are delivered and one whose changes go to orders nobody watches (as `--ws-control`), back
    /// to back, in alternating order (ABBA). Prints the server's CPU per change of each phase,
    /// and the median and mean difference: a delivery's cost beyond its change, without the
    /// drift between separate runs. Needs `--server-pid` and more orders than subscriptions (up
    /// to twice as many).
    #[arg(long, requires = "ws_targeted", conflicts_with = "ws_control")]
    pub ws_paired: Option<usize>,
    /// Websocket modes: give each subscription an operation text of its own (a trailing comment
    /// with its number), as if every client sent a different operation. The server resolves an
    /// event once per distinct operation and variables, so this measures deliveries that share
    /// nothing; without it, `--ws` subscribers all send the same operation.
    #[arg(long)]
    pub ws_unique: bool,
    /// Time between two status changes of the `--ws` driver.
    #[arg(long, default_value = "200ms", value_parser = parse_duration)]
    pub ws_interval: Duration,
    /// Targeted delivery: open this many graphql-transport-ws subscriptions, each to a different
    /// order, then make `--ws-rate` status changes per second (open loop, hold/resume, round-robin
    /// over the orders, never a second change of an order before the first was answered) for
    /// `--duration`. Each event must reach its order's subscriber within `--timeout`; latency
    /// counts from when the change was due to be sent (the mutation included), server CPU is per
    /// delivery (the mutation included too: compare with `--hold-resume`). The orders are
    /// `--ws-orders`, or else the first N the token may hold or resume (read with
    /// `orders(first: 100, after: ...)`, as `--hold-resume` does). With `--query`, the
    /// subscription must take `$orderId`.
    #[arg(long, conflicts_with_all = ["ws", "ws_idle", "ws_order", "hold_resume", "once"])]
    pub ws_targeted: Option<usize>,
    /// Status changes per second of `--ws-targeted`, spread over its orders.
    #[arg(long, default_value_t = 100.0, requires = "ws_targeted")]
    pub ws_rate: f64,
    /// A file of order ids, one per line (blank lines and `#` comments skipped, no repeats), for
    /// `--ws-targeted` and `--ws-idle`: the first N are watched and changed.
    #[arg(long)]
    pub ws_orders: Option<PathBuf>,
    /// Idle memory: open this many subscriptions (to `--ws-order` if given, else each to a
    /// different order as in `--ws-targeted`), prove each live with one status change, then
    /// leave them idle for `--duration`; reports the server's RSS before and after opening them
    /// and its growth per connection (needs `--server-pid`), and its CPU while idle.
    #[arg(long, conflicts_with_all = ["ws", "hold_resume", "once"])]
    pub ws_idle: Option<usize>,
    /// The server's process id: its CPU time over the measured window gives CPU per request
    /// (and in the websocket modes its memory per subscription).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Name of the scenario in the report.
    #[arg(long, default_value = "load")]
    pub label: String,
    /// Print the result as one JSON line on stdout (the human summary goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Send the operation once, check it, print the answer and exit (non-zero when the check fails).
    #[arg(long)]
    pub once: bool,
    /// With `--once`: print the values at this path (one per line, strings unquoted) instead of
    /// the whole answer; at least one must exist.
    #[arg(long, requires = "once")]
    pub print: Option<String>,
    /// Runtime worker threads (default: the CPUs this process may run on).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Keep the load generator's threads polling instead of sleeping between answers (each uses
    /// a whole CPU). On loopback the server's write of an answer runs the client's receive path
    /// too, and waking a sleeping client from an idle CPU (an inter-processor interrupt, dear
    /// under a hypervisor) counts as the server's CPU; over a network the client's machine pays
    /// it. A diagnostic: the scenarios of `bench/run.sh` run without it.
    #[arg(long)]
    pub spin: bool,
}

/// Parses `10s`, `500ms`, `2m`, `1h`, or a plain number of seconds (`1.5`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 10s, 500ms, 2m)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1e3,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit `{unit}` in `{text}` (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    let threads = args.threads.map(|threads| threads.max(1));
    if let Some(threads) = threads {
        runtime.worker_threads(threads);
    }
    let runtime = match runtime.build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.spin {
        let workers = threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        // A task that always yields keeps its worker from parking: between polls of its tasks
        // the worker asks the I/O driver for events without waiting (tokio's `park_yield`).
        for _ in 0..workers {
            runtime.spawn(async {
                loop {
                    tokio::task::yield_now().await;
                }
            });
        }
    }
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("loadgen: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    if args.connections == 0 {
        return Err("--connections must be at least 1".to_owned());
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        return Err(format!("--rate must be a positive number, not {rate}"));
    }
    // Thousands of websockets need as many descriptors; the soft limit is often 1,024.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("loadgen: cannot raise the open-file limit: {e}");
    }
    let mut target = Target::parse(&args.url)?;
    if let Some(url) = &args.subscribe_url {
        target.ws_url = Target::parse(url)?.ws_url;
    }
    let expect = args.expect.as_deref().map(FieldPath::parse).transpose()?;
    let variables = read_variables(&args)?;

    if args.once {
        let query = read_query(&args)?.ok_or("--once needs --query or --query-file")?;
        return once(&args, &target, &query, variables, expect.as_ref()).await;
    }
    if let Some(subscribers) = args.ws {
        let order = args.ws_order.clone().ok_or("--ws needs --ws-order")?;
        let query = read_query(&args)?;
        return ws_load::run(&args, target, subscribers, order, query, variables).await;
    }
    if args.ws_orders.is_some() && args.ws_targeted.is_none() && args.ws_idle.is_none() {
        return Err("--ws-orders is for --ws-targeted and --ws-idle".to_owned());
    }
    if let Some(subscribers) = args.ws_targeted {
        let query = read_query(&args)?;
        let rate = args.ws_rate;
        return ws_targeted::run(&args, target, subscribers, rate, query, variables).await;
    }
    if let Some(subscribers) = args.ws_idle {
        let query = read_query(&args)?;
        return ws_targeted::run_idle(&args, target, subscribers, query, variables).await;
    }
    let workload = if args.hold_resume {
        http_load::Workload::HoldResume
    } else {
        let query = read_query(&args)?.ok_or("give --query, --query-file or --hold-resume")?;
        match &args.unique_var {
            Some(name) => http_load::Workload::unique(query, variables, name.clone())?,
            None => http_load::Workload::fixed(&query, &variables),
        }
    };
    http_load::run(&args, target, workload, expect).await
}

fn read_query(args: &Args) -> Result<Option<String>, String> {
    match (&args.query, &args.query_file) {
        (Some(query), _) => Ok(Some(query.clone())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(Some)
            .map_err(|e| format!("read {}: {e}", path.display())),
        (None, None) => Ok(None),
    }
}

fn read_variables(args: &Args) -> Result<Value, String> {
    let text = match (&args.variables, &args.variables_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => {
            std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?
        }
        (None, None) => return Ok(json!({})),
    };
    let variables: Value =
        serde_json::from_str(&text).map_err(|e| format!("--variables is not JSON: {e}"))?;
    if variables.is_object() {
        Ok(variables)
    } else {
        Err("--variables must be a JSON object".to_owned())
    }
}

/// `--once`: one checked request, for scripts that need an id or a token's view of the data.
async fn once(
    args: &Args,
    target: &Target,
    query: &str,
    variables: Value,
    expect: Option<&FieldPath>,
) -> Result<(), String> {
    let mut connection = HttpConnection::open(target, args.token.as_deref()).await?;
    let body = json!({ "query": query, "variables": variables }).to_string();
    let (status, answer) = tokio::time::timeout(args.timeout, connection.post(body.into()))
        .await
        .map_err(|_| format!("no answer within {:?}", args.timeout))??;
    let value = parse_response(status, &answer, expect).map_err(|e| e.to_string())?;
    let Some(path) = &args.print else {
        println!("{value}");
        return Ok(());
    };
    let path = FieldPath::parse(path)?;
    let found = path.lookup(&value);
    if found.is_empty() {
        return Err(format!("nothing at `{path}` in {value}"));
    }
    for value in found {
        match value {
            Value::String(text) => println!("{text}"),
            other => println!("{other}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
