//! Wiring: the only place adapters are plugged into the services, and the commands of the CLI.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::ports::UserRepository;
use domain::user::{Email, NewUser, Role};
use persistence::{Store, StoreOptions};
use rust_decimal::Decimal;
use tokio::net::TcpListener;

use crate::cli::{DbArgs, JwtArgs, ServeArgs, TokenArgs, UserAddArgs};
use crate::graphql::build_schema;
use crate::http::auth::{JwtConfig, JwtKeys, parse_ttl};
use crate::http::{AppState, router};
use crate::service::limits::{LimitConfig, Limits};
use crate::service::{EventHub, Services, hash_password, spawn_dispatcher};

/// The secret `--dev` uses when none is configured. Public: tokens signed with it prove nothing.
const DEV_SECRET: &str = "orderdesk-dev-secret-do-not-use-in-production";

/// Any failure of a command, printed by `main`.
pub type CliResult<T> = Result<T, String>;

/// Connects to the database, retrying with backoff for `--db-connect-retry-secs` (the database
/// may still be starting when orderdesk does, e.g. after a host reboot).
pub async fn connect(db: &DbArgs) -> CliResult<Store> {
    let options = StoreOptions {
        max_connections: db.db_max_connections,
        sqlite_synchronous_full: db.sqlite_synchronous == "full",
        sqlite_inline_reads: db.sqlite_inline_reads == "on",
        sqlite_inline_writes: db.sqlite_inline_writes == "on",
        statement_timeout: (db.db_statement_timeout_ms > 0)
            .then(|| Duration::from_millis(db.db_statement_timeout_ms)),
        ..StoreOptions::default()
    };
    let give_up = tokio::time::Instant::now() + Duration::from_secs(db.db_connect_retry_secs);
    let mut backoff = Duration::from_millis(200);
    loop {
        match Store::connect(&db.url, &options).await {
            Ok(store) => return Ok(store),
            Err(err) if tokio::time::Instant::now() + backoff < give_up => {
                tracing::warn!(%err, retry_in = ?backoff, "database not reachable yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(err) => return Err(format!("cannot open database {}: {err}", db.url)),
        }
    }
}

/// The token keys, refusing a release build without a secret unless `--dev`.
pub fn jwt_keys(args: &JwtArgs) -> CliResult<JwtKeys> {
    let secret = match &args.secret {
        Some(secret) if secret.len() >= 16 => secret.clone(),
        Some(_) => return Err("ORDERDESK_JWT_SECRET must be at least 16 characters".into()),
        None if args.dev || cfg!(debug_assertions) => {
            tracing::warn!(
                "no ORDERDESK_JWT_SECRET: using the public development secret (never in production)"
            );
            DEV_SECRET.to_owned()
        }
        None => {
            return Err(
                "refusing to start without ORDERDESK_JWT_SECRET (pass --dev for a local trial)"
                    .into(),
            );
        }
    };
    JwtKeys::new(JwtConfig {
        secret: secret.into_bytes(),
        kid: args.jwt_kid.clone(),
        keys_dir: args.jwt_keys_dir.clone(),
        issuer: args.jwt_issuer.clone(),
        audience: args.jwt_audience.clone(),
        leeway_secs: args.jwt_leeway_secs,
    })
}

/// Re-reads the token key folder on SIGHUP, so keys rotate without a restart.
fn reload_keys_on_hangup(jwt: Arc<JwtKeys>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP: token keys will not reload");
            return;
        };
        while hangups.recv().await.is_some() {
            match jwt.reload() {
                Ok(count) => tracing::info!(keys = count, "token keys reloaded"),
                Err(err) => {
                    tracing::error!(%err, "token keys not reloaded; the previous keys stay in use")
                }
            }
        }
    });
    #[cfg(not(unix))]
    let _ = jwt;
}

/// Every open connection (and so every websocket subscriber) holds a file descriptor, and the
/// usual soft limit (1024) would refuse clients long before memory or CPU run out: raise the soft
/// limit to the hard one, which only the administrator can lower or raise further.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(open_files = limit, "open-file limit"),
        Err(err) => tracing::warn!(%err, "could not raise the open-file limit"),
    }
}

/// `orderdesk serve`.
pub async fn serve(args: ServeArgs) -> CliResult<()> {
    let production = args.production
        || std::env::var("ORDERDESK_ENV").is_ok_and(|env| env.eq_ignore_ascii_case("production"));
    if production && (args.jwt.dev || args.jwt.secret.is_none()) {
        return Err("production mode needs ORDERDESK_JWT_SECRET and refuses --dev".into());
    }
    let jwt = jwt_keys(&args.jwt)?;
    let review_policy = match &args.review_config {
        Some(path) => crate::review_config::load(path).map_err(|e| e.to_string())?,
        None => domain::review::ReviewPolicy::default(),
    };
    let token_ttl = parse_ttl(&args.token_ttl)?;
    let refresh_ttl = parse_ttl(&args.refresh_token_ttl)?;
    raise_open_file_limit();
    let store = connect(&args.db).await?;
    store
        .migrate()
        .await
        .map_err(|e| format!("migration failed: {e}"))?;
    if args.demo {
        crate::seed::demo_if_empty(&store, 42).await?;
    }
    let hub = EventHub::new(args.subscription_queue);
    let _dispatcher = spawn_dispatcher(
        store.clone(),
        hub.clone(),
        Duration::from_millis(args.event_poll_ms.max(10)),
    )
    .await
    .map_err(|e| format!("cannot read the event log: {e}"))?;
    // Other instances' commits wake this instance's dispatcher (PostgreSQL LISTEN/NOTIFY).
    let event_listener = {
        let (store, hub) = (store.clone(), hub.clone());
        tokio::spawn(async move { store.listen_for_events(move || hub.committed()).await })
    };
    let jwt = Arc::new(jwt);
    reload_keys_on_hangup(Arc::clone(&jwt));
    let services = Services {
        store: store.clone(),
        jwt,
        hub,
        token_ttl,
        refresh_ttl,
        refresh_grace: chrono::Duration::seconds(i64::from(args.refresh_reuse_grace_secs)),
        metrics: Arc::default(),
        review_policy: Arc::new(review_policy),
        stale_order_days: args.follow_up_stale_days,
        feed_checks: Arc::new(tokio::sync::Semaphore::new(
            crate::service::FEED_CHECKS_AT_ONCE,
        )),
        limits: Arc::new(Limits::new(LimitConfig {
            mutations_per_minute: args.mutations_per_minute,
            address_mutations_per_minute: args.address_mutations_per_minute,
            logins_per_minute: args.logins_per_minute,
            lockout_after_failures: args.login_lockout_failures,
            lockout: Duration::from_secs(args.login_lockout_secs),
        })),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let metrics = Arc::clone(&services.metrics);
    let state = AppState {
        schema: build_schema(services.clone(), production),
        prevalidated: crate::graphql::build_prevalidated_schema(services.clone(), production),
        plans: Arc::new(crate::http::Plans::new(services.clone())),
        introspection: (!production)
            .then(|| crate::graphql::build_introspection_schema(services.clone())),
        services,
        production,
        shutdown: stop_rx.clone(),
        parse_cache: Default::default(),
    };
    let listener = TcpListener::bind(args.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.bind))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    // Scripts and the test suite wait for this exact line on stdout.
    println!("orderdesk listening on http://{address}");
    eprintln!(
        "GraphiQL: http://{address}/graphql — get a token with the `login` mutation or `orderdesk token --email <email>`"
    );
    let server = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown({
        let mut stop_rx = stop_rx.clone();
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        }
    });
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    tokio::select! {
        result = server => result.map_err(|e| e.to_string())?,
        () = async {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = stop_tx.send(true);
            // Long-lived websockets would hold graceful shutdown open forever: bound it.
            tokio::time::sleep(grace).await;
        } => tracing::warn!("grace period over; closing remaining connections"),
    }
    // Websockets live outside the HTTP server's connection tracking: give their 1012 closes a
    // moment to go out before the process ends.
    let closing = tokio::time::Instant::now() + Duration::from_secs(2).min(grace);
    while metrics.open_websockets() > 0 && tokio::time::Instant::now() < closing {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    event_listener.abort();
    store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// `orderdesk migrate`.
pub async fn migrate(db: DbArgs) -> CliResult<()> {
    let store = connect(&db).await?;
    store
        .migrate()
        .await
        .map_err(|e| format!("migration failed: {e}"))?;
    println!("database is up to date");
    Ok(())
}

/// `orderdesk user add`.
pub async fn add_user(args: UserAddArgs) -> CliResult<()> {
    let store = connect(&args.db).await?;
    store
        .migrate()
        .await
        .map_err(|e| format!("migration failed: {e}"))?;
    let manager_id = match &args.manager {
        Some(email) => {
            let email = Email::parse(email).map_err(|e| e.to_string())?;
            let manager = store
                .user_by_email(&email)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no user with e-mail {email}"))?;
            Some(manager.id)
        }
        None => None,
    };
    let password_hash = args.password.as_deref().map(hash_password).transpose()?;
    let user = NewUser {
        email: Email::parse(&args.email).map_err(|e| e.to_string())?,
        name: args.name,
        role: Role::parse(&args.role).map_err(|e| e.to_string())?,
        manager_id,
        customer_id: args.customer.map(domain::CustomerId),
        discount_authority: domain::money::parse_decimal(
            "discountAuthority",
            &args.discount_authority,
        )
        .map_err(|e| e.to_string())?,
        password_hash,
    };
    user.validate().map_err(|e| e.to_string())?;
    if user.discount_authority < Decimal::ZERO || user.discount_authority > Decimal::ONE_HUNDRED {
        return Err("discount authority must be between 0 and 100".into());
    }
    let user = store.create_user(user).await.map_err(|e| e.to_string())?;
    println!("created user {} {}", user.id, user.email);
    Ok(())
}

/// `orderdesk token`.
pub async fn token(args: TokenArgs) -> CliResult<()> {
    let keys = jwt_keys(&args.jwt)?;
    let ttl = parse_ttl(&args.ttl)?;
    let store = connect(&args.db).await?;
    let email = Email::parse(&args.email).map_err(|e| e.to_string())?;
    let user = store
        .user_by_email(&email)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user with e-mail {email}"))?;
    let (token, _) = keys.issue(&user, ttl, Utc::now())?;
    println!("{token}");
    Ok(())
}
