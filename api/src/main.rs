//! The `orderdesk` binary.

use api::cli::{Cli, Command, UserCommand};
use clap::Parser;
use tracing_subscriber::EnvFilter;

// A request allocates and frees thousands of small objects (rows, GraphQL values, JSON), and
// glibc's malloc spent a third of a page of 50 orders' CPU in malloc, free and fastbin
// consolidation. mimalloc: about 10 % less server CPU for order(id), lists, transitions and
// createOrder, and the same memory for idle websockets (docs/benchmarks.md, session 5).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let json_logs = match &cli.command {
        Command::Serve(args) => match args.log_format.as_deref() {
            Some(format) => format == "json",
            None => {
                args.production
                    || std::env::var("ORDERDESK_ENV")
                        .is_ok_and(|env| env.eq_ignore_ascii_case("production"))
            }
        },
        _ => false,
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let log = api::log_writer::LogWriter::stderr();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(log.clone());
    if json_logs {
        // tracing-subscriber's JSON line with the current span alone (requests do not nest
        // spans), written and recorded without its serde detours (see `log_line`).
        logs.json()
            .fmt_fields(api::log_line::SpanFields::default())
            .event_format(api::log_line::JsonLine)
            .init();
    } else {
        logs.init();
    }
    // Lines still in the buffer leave before a panic's message, which goes to stderr directly.
    let on_panic = log.clone();
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        on_panic.flush();
        previous_hook(info);
    }));
    let result = match cli.command {
        Command::Serve(args) => api::app::serve(args).await,
        Command::Migrate(db) => api::app::migrate(db).await,
        Command::User {
            command: UserCommand::Add(args),
        } => api::app::add_user(args).await,
        Command::Token(args) => api::app::token(args).await,
        Command::Seed(args) => api::seed::run(args).await,
    };
    log.flush();
    if let Err(message) = result {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}
