//! The two binaries together, for real: `loadgen` against `baseline` on a random port. Proves the
//! load generator counts answers, reports them as JSON, and counts a failed check as an error
//! instead of a success. (Being an integration test also makes `cargo test --workspace` build
//! both binaries, which `bench/run.sh --smoke` in CI then runs against orderdesk.)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A running `baseline`, killed when dropped.
struct Baseline {
    child: Child,
    url: String,
}

impl Baseline {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_baseline"))
            .args(["--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start baseline");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the announcement");
        let url = line
            .trim()
            .strip_prefix("baseline listening on ")
            .unwrap_or_else(|| panic!("unexpected announcement: {line}"))
            .to_owned();
        Self { child, url }
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `loadgen --json` with `args` and returns its JSON line.
fn loadgen(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--json")
        .output()
        .expect("run loadgen");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "loadgen failed:\n{stderr}");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let line = stdout.lines().last().expect("a JSON line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n{stderr}"))
}

#[test]
fn a_closed_loop_run_against_the_baseline_answers_everything_correctly() {
    let baseline = Baseline::start();
    let result = loadgen(&[
        "--url",
        &baseline.url,
        "--query",
        "{ __typename }",
        "--connections",
        "4",
        "--duration",
        "500ms",
        "--expect",
        "data.items.*.sku",
        "--label",
        "baseline",
    ]);
    assert_eq!(result["label"], "baseline");
    assert_eq!(result["errors"], 0, "{result}");
    assert!(result["ok"].as_u64().expect("ok count") > 0, "{result}");
    assert!(result["rps"].as_f64().expect("rps") > 0.0, "{result}");
    assert!(result["p50_us"].as_u64().expect("p50") > 0, "{result}");
}

#[test]
fn an_answer_without_the_expected_field_is_an_error_not_a_success() {
    let baseline = Baseline::start();
    let result = loadgen(&[
        "--url",
        &baseline.url,
        "--query",
        "{ __typename }",
        "--connections",
        "2",
        "--duration",
        "300ms",
        "--expect",
        "data.order.id",
    ]);
    assert_eq!(result["ok"], 0, "{result}");
    assert!(result["errors"].as_u64().expect("errors") > 0, "{result}");
    assert!(
        result["error_kinds"]["missing"].as_u64().is_some(),
        "{result}"
    );
}

#[test]
fn an_open_loop_run_keeps_to_its_rate() {
    let baseline = Baseline::start();
    let result = loadgen(&[
        "--url",
        &baseline.url,
        "--query",
        "{ __typename }",
        "--rate",
        "200",
        "--connections",
        "4",
        "--duration",
        "1s",
    ]);
    assert_eq!(result["errors"], 0, "{result}");
    assert_eq!(result["target_rate"], 200.0, "{result}");
    // 200 slots in one second, give or take the edges of the window.
    let ok = result["ok"].as_u64().expect("ok count");
    assert!((150..=210).contains(&ok), "{result}");
}

#[test]
fn once_prints_the_values_at_a_path() {
    let baseline = Baseline::start();
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--url", &baseline.url, "--query", "{ __typename }"])
        .args(["--once", "--print", "data.items.*.id"])
        .output()
        .expect("run loadgen");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["1", "2", "3", "4", "5", "6", "7", "8"]
    );
}

#[test]
fn a_targeted_run_without_orders_to_watch_fails_instead_of_measuring_nothing() {
    // The baseline answers every POST with the same JSON, which lists no orders: loadgen must say
    // so and exit non-zero before opening a single websocket.
    let baseline = Baseline::start();
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "--url",
            &baseline.url,
            "--ws-targeted",
            "10",
            "--ws-rate",
            "5",
        ])
        .args(["--duration", "1s", "--json"])
        .output()
        .expect("run loadgen");
    assert!(!output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("holdable orders"), "{stderr}");
}
