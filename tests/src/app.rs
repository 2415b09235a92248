//! The server under test: one `orderdesk serve` child process per test, on a random port, with
//! its own database and JWT secret, plus the CLI calls that make users and tokens.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::{env, fmt};

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::database::{Backend, TestDatabase};
use crate::subscription::Subscription;

/// How long the server may take to migrate and bind (a debug build on a busy CI box).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long any one HTTP request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of the server's stderr is kept to show when a test fails.
const STDERR_TAIL_BYTES: usize = 64 * 1024;

/// A running `orderdesk serve`, killed when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`, as the server announced it.
    pub address: String,
    /// The backend the database runs on.
    pub backend: Backend,
    client: reqwest::Client,
    bin: PathBuf,
    jwt_secret: String,
    /// The extra `orderdesk serve` flags it was started with; a restart starts it with them again.
    extra_args: Vec<String>,
    stderr_tail: Arc<Mutex<String>>,
    child: Child,
    // Declared after `child`: fields drop in order, so the server is gone before its database.
    // Shared with sibling instances ([`TestApp::sibling`]); removed when the last one drops.
    database: Arc<TestDatabase>,
}

/// A user made with `orderdesk user add`, with a token from `orderdesk token`.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// The user's id, as the API spells it.
    pub id: String,
    /// The login e-mail.
    pub email: String,
    /// A bearer token for the user.
    pub token: String,
}

impl TestUser {
    /// The token, in the form `gql` and `subscribe` take it.
    #[must_use]
    pub fn token(&self) -> Option<&str> {
        Some(&self.token)
    }
}

/// A user's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sees and may do everything.
    Admin,
    /// Sees their own and their team's customers and orders; approves.
    Manager,
    /// Sees the customers and orders they own.
    Sales,
    /// A buyer: sees their company's orders, confirms through the portal.
    Customer,
}

impl Role {
    /// The name the CLI and the API use.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Manager => "MANAGER",
            Role::Sales => "SALES",
            Role::Customer => "CUSTOMER",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Optional arguments of `orderdesk user add`.
#[derive(Clone, Copy, Debug, Default)]
pub struct UserOptions<'a> {
    /// Display name; derived from the e-mail when absent.
    pub name: Option<&'a str>,
    /// Password, for tests that log in.
    pub password: Option<&'a str>,
    /// The e-mail of the user's manager.
    pub manager: Option<&'a str>,
    /// For CUSTOMER users: the customer (company) id.
    pub customer: Option<&'a str>,
    /// Highest line discount in percent the user may grant without approval.
    pub discount_authority: Option<&'a str>,
}

/// Starts `orderdesk serve` on a random port against a fresh database and waits until it
/// announces that it is listening.
///
/// The server gets a random JWT secret and `RUST_LOG=warn`; with `TEST_LOG=1` its stderr goes to
/// the test's stderr (and `RUST_LOG` is passed through, default `info`).
///
/// # Panics
/// When the binary is missing, the database cannot be created, or the server does not come up
/// within 60 s (the panic shows the server's stderr).
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// [`spawn_app`] with extra `orderdesk serve` flags (e.g. `--production`).
///
/// # Panics
/// As [`spawn_app`].
pub async fn spawn_app_with(backend: Backend, extra_args: &[&str]) -> TestApp {
    let bin = orderdesk_bin();
    let database = Arc::new(TestDatabase::create(backend).await);
    let jwt_secret: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(48)
        .map(char::from)
        .collect();
    let stderr_tail = Arc::new(Mutex::new(String::new()));
    let (child, address) =
        start_server(&bin, database.url(), &jwt_secret, extra_args, &stderr_tail).await;
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("build the HTTP client");
    TestApp {
        address,
        backend,
        client,
        bin,
        jwt_secret,
        extra_args: extra_args.iter().map(|arg| (*arg).to_owned()).collect(),
        stderr_tail,
        child,
        database,
    }
}

/// Starts `orderdesk serve` on `database_url` (port 0) and waits until it announces where it
/// listens; returns the process and `http://127.0.0.1:PORT`.
///
/// # Panics
/// When the server does not come up within 60 s (the panic shows its stderr).
async fn start_server(
    bin: &Path,
    database_url: &str,
    jwt_secret: &str,
    extra_args: &[&str],
    stderr_tail: &Arc<Mutex<String>>,
) -> (Child, String) {
    let test_log = test_log_enabled();
    let mut command = Command::new(bin);
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--database", database_url])
        .args(extra_args)
        .env("ORDERDESK_JWT_SECRET", jwt_secret)
        .env("RUST_LOG", rust_log(test_log))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if test_log {
            Stdio::inherit()
        } else {
            Stdio::piped()
        })
        .kill_on_drop(true);
    if !test_log {
        // Captured logs are shown as plain text in failure messages, not on a terminal.
        command.env("NO_COLOR", "1");
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    if let Some(stderr) = child.stderr.take() {
        // Always drained, so a chatty server never blocks on a full pipe.
        tokio::spawn(keep_tail(stderr, Arc::clone(stderr_tail)));
    }
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let announced = tokio::time::timeout(STARTUP_TIMEOUT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if test_log {
                eprintln!("[orderdesk stdout] {line}");
            }
            if let Some((_, address)) = line.split_once("orderdesk listening on ") {
                return Some(address.trim().trim_end_matches('/').to_owned());
            }
        }
        None
    })
    .await;
    let address = match announced {
        Ok(Some(address)) => address,
        failure => {
            let _ = child.start_kill();
            let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            let what = match failure {
                Err(_) => {
                    format!("did not announce `orderdesk listening on` within {STARTUP_TIMEOUT:?}")
                }
                Ok(_) => format!(
                    "exited before listening ({})",
                    describe_exit(status.ok().and_then(Result::ok))
                ),
            };
            panic!(
                "orderdesk serve --database {database_url} {what}\n--- server stderr ---\n{}",
                tail_text(stderr_tail)
            );
        }
    };
    // Keep reading stdout so the server never blocks writing to it.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if test_log {
                eprintln!("[orderdesk stdout] {line}");
            }
        }
    });
    (child, address)
}

impl TestApp {
    /// `address` + `path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The HTTP client, for requests that are not GraphQL.
    #[must_use]
    pub fn http(&self) -> &reqwest::Client {
        &self.client
    }

    /// The text of `GET /metrics`.
    ///
    /// # Panics
    /// When the request fails.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("the metrics' text")
    }

    /// The URL of the test's database.
    #[must_use]
    pub fn database_url(&self) -> &str {
        self.database.url()
    }

    /// POSTs a GraphQL request to `/graphql` and returns the whole response body, whatever the
    /// HTTP status (errors are asserted on the body's `errors[..].extensions.code`).
    ///
    /// # Panics
    /// When the request fails at the HTTP level or the body is not JSON.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /graphql failed: {e}\nquery: {query}"));
        let status = response.status();
        let text = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("reading the /graphql response ({status}): {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("/graphql answered {status} with a body that is not JSON ({e}):\n{text}")
        })
    }

    /// The value of the unlabelled counter or gauge `name` in `/metrics`.
    ///
    /// # Panics
    /// When `/metrics` cannot be read or has no such line.
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    }

    /// Waits until the unlabelled gauge or counter `name` in `/metrics` reads `value`: e.g. until
    /// the server has opened every subscription sent to it (graphql-transport-ws does not
    /// acknowledge a `subscribe`).
    ///
    /// # Panics
    /// When it does not within 30 s.
    pub async fn wait_for_metric(&self, name: &str, value: u64) {
        let give_up = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.metric(name).await;
            if now == value {
                return;
            }
            assert!(
                std::time::Instant::now() < give_up,
                "{name} is {now}, still not {value} after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Opens a websocket to `/graphql` (graphql-transport-ws) and subscribes with `query`.
    pub async fn subscribe(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> Subscription {
        let ws_url = format!("{}/graphql", self.address.replacen("http://", "ws://", 1));
        Subscription::open(&ws_url, query, variables, token).await
    }

    /// Runs `orderdesk <args> --database <this test's database>` with the server's JWT secret and
    /// returns its stdout.
    ///
    /// # Panics
    /// When the command cannot start or exits unsuccessfully (the panic shows its stderr).
    pub async fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(&self.bin)
            .args(args)
            .args(["--database", self.database.url()])
            .env("ORDERDESK_JWT_SECRET", &self.jwt_secret)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(STARTUP_TIMEOUT, output)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "`orderdesk {}` did not finish in {STARTUP_TIMEOUT:?}",
                    args.join(" ")
                )
            })
            .unwrap_or_else(|e| panic!("start `orderdesk {}`: {e}", args.join(" ")));
        assert!(
            output.status.success(),
            "`orderdesk {}` failed ({}):\n{}{}",
            args.join(" "),
            describe_exit(Some(output.status)),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("CLI output is UTF-8")
    }

    /// Creates a user with `orderdesk user add` and a token for them with `orderdesk token`.
    ///
    /// # Panics
    /// When either command fails or `user add` does not print `created user <id> <email>`.
    pub async fn add_user(&self, email: &str, role: Role, options: UserOptions<'_>) -> TestUser {
        let default_name = default_name(email);
        let mut args = vec![
            "user",
            "add",
            "--email",
            email,
            "--name",
            options.name.unwrap_or(&default_name),
            "--role",
            role.as_str(),
        ];
        for (flag, value) in [
            ("--password", options.password),
            ("--manager", options.manager),
            ("--customer", options.customer),
            ("--discount-authority", options.discount_authority),
        ] {
            if let Some(value) = value {
                args.extend([flag, value]);
            }
        }
        let stdout = self.cli(&args).await;
        let id = stdout
            .lines()
            .rev()
            .find_map(|line| {
                let mut words = line.split_whitespace();
                match (words.next(), words.next(), words.next()) {
                    (Some("created"), Some("user"), Some(id)) => Some(id.to_owned()),
                    _ => None,
                }
            })
            .unwrap_or_else(|| {
                panic!(
                    "`orderdesk user add` printed no `created user <id> <email>` line:\n{stdout}"
                )
            });
        let token = self.token_for(email).await;
        TestUser {
            id,
            email: email.to_owned(),
            token,
        }
    }

    /// A fresh JWT for an existing user, from `orderdesk token`.
    pub async fn token_for(&self, email: &str) -> String {
        let stdout = self.cli(&["token", "--email", email]).await;
        stdout
            .lines()
            .map(str::trim)
            .rfind(|line| !line.is_empty())
            .unwrap_or_else(|| panic!("`orderdesk token` printed nothing"))
            .to_owned()
    }
}

impl TestApp {
    /// Sends SIGTERM (as an orchestrator would) and waits up to `within` for the process to exit.
    /// Returns its exit status, or `None` when it is still running.
    pub async fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().expect("the server is running").to_string();
        let sent = tokio::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()
            .map(|status| status.expect("wait for the server"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        // Reap the child (bounded) so no server outlives its test or holds the database open.
        for _ in 0..100 {
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Ok(Some(_)) | Err(_) => break,
            }
        }
        if std::thread::panicking() {
            let tail = tail_text(&self.stderr_tail);
            if !tail.trim().is_empty() {
                eprintln!(
                    "--- orderdesk stderr ({}, last {STDERR_TAIL_BYTES} bytes) ---\n{tail}",
                    self.address
                );
            }
        }
    }
}

/// Where the `orderdesk` binary is: `ORDERDESK_BIN`, else `target/<profile>/orderdesk` next to
/// this test executable (`target/<profile>/deps/e2e-<hash>`).
///
/// # Panics
/// When the binary does not exist.
#[must_use]
pub fn orderdesk_bin() -> PathBuf {
    if let Some(path) = env::var_os("ORDERDESK_BIN") {
        return PathBuf::from(path);
    }
    let exe = env::current_exe().expect("the test executable's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps");
    let bin = profile_dir.join(format!("orderdesk{}", env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the orderdesk binary is not at {}: build it first (`cargo build -p api`, or run \
         `cargo test --workspace`), or point ORDERDESK_BIN at it",
        bin.display()
    );
    bin
}

fn test_log_enabled() -> bool {
    env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn rust_log(test_log: bool) -> String {
    if test_log {
        env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned())
    } else {
        "warn".to_owned()
    }
}

fn default_name(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    local
        .split(['.', '_', '-'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn keep_tail(mut stream: impl AsyncRead + Unpin, tail: Arc<Mutex<String>>) {
    let mut buffer = [0_u8; 8192];
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        let mut tail = tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tail.push_str(&String::from_utf8_lossy(&buffer[..n]));
        if tail.len() > STDERR_TAIL_BYTES {
            let mut cut = tail.len() - STDERR_TAIL_BYTES;
            while !tail.is_char_boundary(cut) {
                cut += 1;
            }
            tail.drain(..cut);
        }
    }
}

fn tail_text(tail: &Arc<Mutex<String>>) -> String {
    tail.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

fn describe_exit(status: Option<ExitStatus>) -> String {
    status.map_or_else(|| "exit status unknown".to_owned(), |s| s.to_string())
}

impl TestApp {
    /// Kills the server with SIGKILL, as a crash, the OOM killer or `kill -9` would: no graceful
    /// shutdown, in-flight requests cut off. Returns once the process is gone.
    ///
    /// # Panics
    /// When the process cannot be signalled or reaped.
    pub async fn kill(&mut self) -> ExitStatus {
        // tokio's `Child::kill` is SIGKILL on unix, then waits.
        self.child.kill().await.expect("SIGKILL the server");
        self.child.wait().await.expect("reap the server")
    }

    /// Starts `orderdesk serve` again, after [`TestApp::kill`] or [`TestApp::terminate`], on the
    /// same database with the same JWT secret, so users and tokens made before stay valid. The
    /// server gets a new port: `address` changes. (Extra flags given to `spawn_app_with` are not
    /// repeated.)
    ///
    /// # Panics
    /// When the server is still running, or the new one does not come up within 60 s (the panic
    /// shows the stderr of both runs).
    pub async fn restart(&mut self) {
        assert!(
            matches!(self.child.try_wait(), Ok(Some(_))),
            "restart: the server at {} is still running",
            self.address
        );
        self.stderr_tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push_str("\n--- restarted ---\n");
        let extra_args: Vec<&str> = self.extra_args.iter().map(String::as_str).collect();
        let (child, address) = start_server(
            &self.bin,
            self.database.url(),
            &self.jwt_secret,
            &extra_args,
            &self.stderr_tail,
        )
        .await;
        self.child = child;
        self.address = address;
    }

    /// A second instance of the service on the same database, with the same secret: what a load
    /// balancer would spread requests over. It shares the database; the last one dropped removes it.
    pub async fn sibling(&self, extra_args: &[&str]) -> TestApp {
        let stderr_tail = Arc::new(Mutex::new(String::new()));
        let (child, address) = start_server(
            &self.bin,
            self.database.url(),
            &self.jwt_secret,
            extra_args,
            &stderr_tail,
        )
        .await;
        TestApp {
            address,
            backend: self.backend,
            client: self.client.clone(),
            bin: self.bin.clone(),
            jwt_secret: self.jwt_secret.clone(),
            extra_args: extra_args.iter().map(|arg| (*arg).to_owned()).collect(),
            stderr_tail,
            child,
            database: Arc::clone(&self.database),
        }
    }
}

impl TestApp {
    /// The HS256 secret the server signs its tokens with (to forge tokens in tests).
    #[must_use]
    pub fn jwt_secret(&self) -> &str {
        &self.jwt_secret
    }

    /// The server's process id (to send it signals).
    ///
    /// # Panics
    /// When the server is not running.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }
}
