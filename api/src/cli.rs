//! The `orderdesk` command line: configuration by flags and environment variables.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

/// orderdesk: the GraphQL order-management API for sales teams.
#[derive(Parser, Debug)]
#[command(name = "orderdesk", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the API server (migrates the database first).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Manage users.
    User {
        /// What to do with users.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print a signed access token for an existing user (a development aid).
    Token(TokenArgs),
    /// Load data sets.
    Seed(SeedArgs),
}

/// Which database.
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// Database URL: `sqlite://orderdesk.db` (created if missing) or `postgres://user@host/db`.
    #[arg(
        long = "database",
        env = "DATABASE_URL",
        default_value = "sqlite://orderdesk.db"
    )]
    pub url: String,
    /// SQLite `synchronous` mode: `full` survives power loss; `normal` is faster and survives crashes.
    #[arg(long, env = "ORDERDESK_SQLITE_SYNCHRONOUS", default_value = "full", value_parser = ["full", "normal"])]
    pub sqlite_synchronous: String,
    /// SQLite: make the hot reads (an order by id, pages of orders, customers, users and products by id,
    /// pages of the event log) on the request's own thread (`on`), or through sqlx's connection worker
    /// like every other statement (`off`, for comparison or if in doubt).
    #[arg(long, env = "ORDERDESK_SQLITE_INLINE_READS", default_value = "on", value_parser = ["on", "off"])]
    pub sqlite_inline_reads: String,
    /// SQLite: run the statements of the shared write transaction on the writer's own thread
    /// (`on`; only BEGIN and COMMIT go to a blocking thread), or through sqlx's connection worker
    /// (`off`, for comparison or if in doubt).
    #[arg(long, env = "ORDERDESK_SQLITE_INLINE_WRITES", default_value = "on", value_parser = ["on", "off"])]
    pub sqlite_inline_writes: String,
    /// Largest number of pooled database connections.
    #[arg(long, env = "ORDERDESK_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// PostgreSQL aborts statements running longer than this (milliseconds; 0 = no limit).
    #[arg(
        long,
        env = "ORDERDESK_DB_STATEMENT_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub db_statement_timeout_ms: u64,
    /// How long to keep retrying (with backoff) when the database is not reachable at start-up (seconds).
    #[arg(long, env = "ORDERDESK_DB_CONNECT_RETRY_SECS", default_value_t = 30)]
    pub db_connect_retry_secs: u64,
}

/// Token signing.
#[derive(Args, Debug, Clone)]
pub struct JwtArgs {
    /// HS256 secret for access tokens. Required in release builds unless `--dev`.
    #[arg(
        long = "jwt-secret",
        env = "ORDERDESK_JWT_SECRET",
        hide_env_values = true
    )]
    pub secret: Option<String>,
    /// Development mode: without a secret, use a fixed, publicly known one (never in production).
    #[arg(long, env = "ORDERDESK_DEV")]
    pub dev: bool,
    /// Key id written into tokens signed with the secret.
    #[arg(long, env = "ORDERDESK_JWT_KID", default_value = "primary")]
    pub jwt_kid: String,
    /// Folder of extra verification keys by kid: `<kid>.hs256` (secret), `<kid>.rs256.pem`
    /// (RSA public key), `<kid>.eddsa.pem` (Ed25519 public key). Re-read on SIGHUP.
    #[arg(long, env = "ORDERDESK_JWT_KEYS_DIR")]
    pub jwt_keys_dir: Option<std::path::PathBuf>,
    /// Required token issuer (`iss`), also written into issued tokens.
    #[arg(long, env = "ORDERDESK_JWT_ISSUER", default_value = "orderdesk")]
    pub jwt_issuer: String,
    /// Required token audience (`aud`) when set, also written into issued tokens.
    #[arg(long, env = "ORDERDESK_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[arg(long, env = "ORDERDESK_JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,
}

/// `orderdesk serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "ORDERDESK_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Token signing.
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// Load the demo data set first if the database has no users.
    #[arg(long)]
    pub demo: bool,
    /// Log format: `text` for people, `json` for log shippers (default: json in production).
    #[arg(long, env = "ORDERDESK_LOG_FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// Production mode (also `ORDERDESK_ENV=production`): GraphiQL, introspection and
    /// suggestions off, and `--dev` refused.
    #[arg(long)]
    pub production: bool,
    /// Lifetime of access tokens issued by `login` and `refreshToken`, e.g. 15m, 1h.
    #[arg(long, env = "ORDERDESK_TOKEN_TTL", default_value = "15m")]
    pub token_ttl: String,
    /// Lifetime of refresh tokens: how long a session may go unused, e.g. 30d.
    #[arg(long, env = "ORDERDESK_REFRESH_TOKEN_TTL", default_value = "30d")]
    pub refresh_token_ttl: String,
    /// Seconds after its use during which a refresh token may be presented again (a client
    /// retrying after a lost answer); later reuse revokes the session.
    #[arg(long, env = "ORDERDESK_REFRESH_REUSE_GRACE_SECS", default_value_t = 30)]
    pub refresh_reuse_grace_secs: u32,
    /// How often the event dispatcher polls the log for events committed by other instances (ms).
    #[arg(long, env = "ORDERDESK_EVENT_POLL_MS", default_value_t = 1000)]
    pub event_poll_ms: u64,
    /// Mutations per minute allowed for one user.
    #[arg(long, env = "ORDERDESK_MUTATIONS_PER_MINUTE", default_value_t = 600)]
    pub mutations_per_minute: u32,
    /// Mutations per minute allowed from one client address (all its users together).
    #[arg(
        long,
        env = "ORDERDESK_ADDRESS_MUTATIONS_PER_MINUTE",
        default_value_t = 3000
    )]
    pub address_mutations_per_minute: u32,
    /// Sign-in attempts per minute allowed from one client address.
    #[arg(long, env = "ORDERDESK_LOGINS_PER_MINUTE", default_value_t = 20)]
    pub logins_per_minute: u32,
    /// Failed sign-ins in a row after which an e-mail is locked.
    #[arg(long, env = "ORDERDESK_LOGIN_LOCKOUT_FAILURES", default_value_t = 5)]
    pub login_lockout_failures: u32,
    /// How long a locked e-mail stays locked (seconds).
    #[arg(long, env = "ORDERDESK_LOGIN_LOCKOUT_SECS", default_value_t = 300)]
    pub login_lockout_secs: u64,
    /// How long to wait for in-flight requests and connections on SIGTERM/SIGINT (seconds).
    #[arg(long, env = "ORDERDESK_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// Review configuration file (TOML): rule severities and minimum order amounts. Without
    /// one, every rule has its default severity and there is no minimum amount (see README).
    #[arg(long, env = "ORDERDESK_REVIEW_CONFIG")]
    pub review_config: Option<std::path::PathBuf>,
    /// Events one subscription may have queued before it is cut off and told to resync
    /// (websocket close 4001); protects the server from clients that do not read.
    #[arg(long, env = "ORDERDESK_SUBSCRIPTION_QUEUE", default_value_t = 1024)]
    pub subscription_queue: usize,
    /// Days without a logged contact after which an active order appears in its rep's
    /// `myFollowUps`.
    #[arg(long, env = "ORDERDESK_FOLLOW_UP_STALE_DAYS", default_value_t = 14)]
    pub follow_up_stale_days: u32,
}

/// `orderdesk user ...`.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; this is how the first admin of a fresh database is made.
    Add(UserAddArgs),
}

/// `orderdesk user add`.
#[derive(Args, Debug)]
pub struct UserAddArgs {
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Login e-mail.
    #[arg(long)]
    pub email: String,
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// ADMIN, MANAGER, SALES or CUSTOMER.
    #[arg(long)]
    pub role: String,
    /// Password for `login` (without one, the user can only get tokens from `orderdesk token`).
    #[arg(long, env = "ORDERDESK_USER_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// E-mail of the user's manager.
    #[arg(long)]
    pub manager: Option<String>,
    /// For CUSTOMER users: the customer id they belong to.
    #[arg(long)]
    pub customer: Option<i64>,
    /// Highest line discount in percent the user may grant without approval.
    #[arg(long, default_value = "0")]
    pub discount_authority: String,
}

/// `orderdesk token`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Token signing.
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// The user's e-mail.
    #[arg(long)]
    pub email: String,
    /// Lifetime, e.g. 15m, 1h, 7d.
    #[arg(long, default_value = "1h")]
    pub ttl: String,
}

/// `orderdesk seed`.
#[derive(Args, Debug)]
pub struct SeedArgs {
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Load the demo data set (users, ~20 customers, ~30 products, ~200 orders in every status).
    #[arg(long)]
    pub demo: bool,
    /// Load the demo data set and then this many generated orders (with a team of 40 reps,
    /// up to 10,000 customers and 1,000 products, invoices, payments and exceptions): the scale
    /// data set of the KPI benchmark. Needs an empty database.
    #[arg(long)]
    pub orders: Option<u64>,
    /// The generated history ends at this instant (RFC 3339 or a date, midnight UTC): orders
    /// are spread over the two years before it, so the same seed gives the same data on any day.
    #[arg(long, default_value = "2026-11-01T00:00:00Z")]
    pub until: String,
    /// Random seed of the generated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}
