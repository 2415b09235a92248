//! What a run prints: a summary for people and one flat JSON line for `bench/run.sh` (flat, with
//! unique keys, so a shell script can pick a field with `sed` and no JSON tool).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bench::latency::{LatencySummary, format_micros};
use bench::procfs;
use serde_json::{Map, Value, json};

/// How many distinct error messages are kept as examples.
const EXAMPLES: usize = 5;

/// Client CPU above this share of one core means the load generator, not the server, may have
/// set the pace.
const CLIENT_SATURATED_PCT: f64 = 90.0;

/// Failures by kind, with a few example messages.
#[derive(Default, Debug)]
pub struct ErrorTally {
    by_kind: BTreeMap<&'static str, u64>,
    examples: Vec<String>,
}

impl ErrorTally {
    /// Counts one failure.
    pub fn add(&mut self, kind: &'static str, message: impl Into<String>) {
        *self.by_kind.entry(kind).or_default() += 1;
        let message = message.into();
        if self.examples.len() < EXAMPLES && !self.examples.contains(&message) {
            self.examples.push(message);
        }
    }

    /// Counts `count` failures of one kind with one example message.
    pub fn add_many(&mut self, kind: &'static str, count: u64, message: impl Into<String>) {
        *self.by_kind.entry(kind).or_default() += count;
        let message = message.into();
        if self.examples.len() < EXAMPLES && !self.examples.contains(&message) {
            self.examples.push(message);
        }
    }

    /// Adds another worker's failures.
    pub fn merge(&mut self, other: ErrorTally) {
        for (kind, count) in other.by_kind {
            *self.by_kind.entry(kind).or_default() += count;
        }
        for message in other.examples {
            if self.examples.len() < EXAMPLES && !self.examples.contains(&message) {
                self.examples.push(message);
            }
        }
    }

    /// All failures.
    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }

    fn kinds_json(&self) -> Value {
        Value::Object(
            self.by_kind
                .iter()
                .map(|(kind, count)| ((*kind).to_owned(), json!(count)))
                .collect(),
        )
    }

    fn print(&self) {
        if self.total() == 0 {
            return;
        }
        let kinds: Vec<_> = self
            .by_kind
            .iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect();
        eprintln!("  ERRORS by kind: {}", kinds.join(", "));
        for example in &self.examples {
            eprintln!("    e.g. {example}");
        }
    }
}

/// CPU used over the measured window by the server (when its pid is known) and by this process.
pub struct CpuWindow {
    server_pid: Option<u32>,
    server_start: Option<Duration>,
    own_start: Option<Duration>,
    wall_start: Instant,
}

/// CPU measured over a window.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuUse {
    /// The server's CPU time, when its pid was given and readable.
    pub server: Option<Duration>,
    /// This process's CPU time.
    pub own: Option<Duration>,
    /// Wall-clock length of the window.
    pub wall: Duration,
}

impl CpuWindow {
    /// Starts measuring now.
    pub fn start(server_pid: Option<u32>) -> Self {
        Self {
            server_pid,
            server_start: server_pid.and_then(|pid| procfs::cpu_time_precise(Some(pid)).ok()),
            own_start: procfs::cpu_time_precise(None).ok(),
            wall_start: Instant::now(),
        }
    }

    /// Stops measuring.
    pub fn finish(self) -> CpuUse {
        let delta = |start: Option<Duration>, pid: Option<u32>| {
            let end = procfs::cpu_time_precise(pid).ok()?;
            Some(end.saturating_sub(start?))
        };
        CpuUse {
            server: self
                .server_pid
                .and_then(|pid| delta(self.server_start, Some(pid))),
            own: delta(self.own_start, None),
            wall: self.wall_start.elapsed(),
        }
    }
}

impl CpuUse {
    /// Both windows together, as if they were one.
    pub fn plus(&self, other: &CpuUse) -> CpuUse {
        let sum = |a: Option<Duration>, b: Option<Duration>| Some(a? + b?);
        CpuUse {
            server: sum(self.server, other.server),
            own: sum(self.own, other.own),
            wall: self.wall + other.wall,
        }
    }

    /// Server CPU per unit of work in µs (per request, per delivery).
    pub fn server_us_per(&self, units: u64) -> Option<f64> {
        let server = self.server?;
        (units > 0).then(|| server.as_secs_f64() * 1e6 / as_f64(units))
    }

    /// This process's CPU per unit of work in µs: what the load generator itself costs.
    pub fn own_us_per(&self, units: u64) -> Option<f64> {
        let own = self.own?;
        (units > 0).then(|| own.as_secs_f64() * 1e6 / as_f64(units))
    }

    /// This process's CPU as a percentage of one core.
    pub fn own_pct(&self) -> Option<f64> {
        let own = self.own?;
        (!self.wall.is_zero()).then(|| own.as_secs_f64() * 100.0 / self.wall.as_secs_f64())
    }
}

/// The result of an HTTP run.
pub struct HttpReport {
    /// Scenario name.
    pub label: String,
    /// Connections used.
    pub connections: usize,
    /// Open-loop rate, if any.
    pub target_rate: Option<f64>,
    /// The measured window.
    pub window: Duration,
    /// Successful answers in the window.
    pub ok: u64,
    /// Every failure of the run.
    pub errors: ErrorTally,
    /// Latency of the successful answers in the window.
    pub latency: LatencySummary,
    /// CPU over the window.
    pub cpu: CpuUse,
    /// The server's pid, if given.
    pub server_pid: Option<u32>,
}

impl HttpReport {
    /// Prints the summary (stdout, or stderr when `json` puts the JSON line on stdout).
    pub fn print(&self, json: bool) {
        let rps = per_second(self.ok, self.window);
        let pacing = match self.target_rate {
            Some(rate) => format!(
                "open loop at {rate:.0} req/s, at most {} in flight",
                self.connections
            ),
            None => format!("closed loop, {} connections", self.connections),
        };
        let mut summary = format!(
            "{}: {rps:.0} req/s ({} ok in {:.1}s, {pacing}), {} errors\n  latency p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            self.label,
            self.ok,
            self.window.as_secs_f64(),
            self.errors.total(),
            format_micros(self.latency.p50_us),
            format_micros(self.latency.p90_us),
            format_micros(self.latency.p99_us),
            format_micros(self.latency.p999_us),
            format_micros(self.latency.max_us),
        );
        summary.push_str(&cpu_line(&self.cpu, self.server_pid, self.ok, "req"));
        if let Some(rate) = self.target_rate
            && rps < rate * 0.95
        {
            summary.push_str(&format!(
                "\n  BEHIND SCHEDULE: {rps:.0} of {rate:.0} req/s answered; latency includes the backlog"
            ));
        }
        emit(json, &summary);
        self.errors.print();
        if json {
            let mut line = Map::new();
            line.insert("label".into(), json!(self.label));
            line.insert("mode".into(), json!("http"));
            line.insert("connections".into(), json!(self.connections));
            line.insert("target_rate".into(), json!(self.target_rate));
            line.insert("duration_s".into(), json!(self.window.as_secs_f64()));
            line.insert("ok".into(), json!(self.ok));
            line.insert("errors".into(), json!(self.errors.total()));
            line.insert("error_kinds".into(), self.errors.kinds_json());
            line.insert("first_error".into(), json!(self.errors.examples.first()));
            line.insert("rps".into(), json!(round1(rps)));
            insert_latency(&mut line, &self.latency);
            insert_cpu(&mut line, &self.cpu, self.ok);
            println!("{}", Value::Object(line));
        }
    }
}

/// The result of a websocket run with changes: fan-out or targeted delivery.
pub struct WsReport {
    /// Scenario name.
    pub label: String,
    /// `ws` (fan-out) or `ws-targeted`.
    pub mode: &'static str,
    /// Subscriptions that were open and live.
    pub subscribers: usize,
    /// Status changes made in the measured window.
    pub changes: u64,
    /// Open-loop rate of changes, if any.
    pub target_rate: Option<f64>,
    /// Deliveries expected (each change times the live subscribers of its order).
    pub expected: u64,
    /// Deliveries received in time.
    pub delivered: u64,
    /// Deliveries that arrived before the mutation's answer.
    pub early: u64,
    /// Every failure, missing deliveries included.
    pub errors: ErrorTally,
    /// Latency counts from when the mutation was due to be sent, not from its answer.
    pub latency_from_send: bool,
    /// Delivery latency.
    pub latency: LatencySummary,
    /// The measured window (first change to last delivery or grace end).
    pub window: Duration,
    /// CPU over the window.
    pub cpu: CpuUse,
    /// The server's pid, if given.
    pub server_pid: Option<u32>,
    /// Server memory (KiB) before and after opening the subscriptions.
    pub server_rss_kib: Option<(u64, u64)>,
}

impl WsReport {
    /// Prints the summary and, with `json`, the JSON line.
    pub fn print(&self, json: bool) {
        let rate = per_second(self.delivered, self.window);
        let pacing = match self.target_rate {
            Some(rate) => format!(", {rate:.0} changes/s scheduled"),
            None => String::new(),
        };
        let (from, early) = if self.latency_from_send {
            (
                "the mutation's (scheduled) send",
                "before the mutation's answer",
            )
        } else {
            ("the mutation's answer", "before the answer, counted as 0")
        };
        let mut summary = format!(
            "{}: {} subscribers, {} changes{pacing}, {}/{} deliveries ({rate:.0}/s), {} errors\n  \
             delivery latency after {from}: p50 {}  p90 {}  p99 {}  p99.9 {}  max {} \
             ({} arrived {early})",
            self.label,
            self.subscribers,
            self.changes,
            self.delivered,
            self.expected,
            self.errors.total(),
            format_micros(self.latency.p50_us),
            format_micros(self.latency.p90_us),
            format_micros(self.latency.p99_us),
            format_micros(self.latency.p999_us),
            format_micros(self.latency.max_us),
            self.early,
        );
        // A control run (`--ws-control`) delivers nothing: its CPU is per change.
        let (units, unit) = if self.expected == 0 {
            (self.changes, "change")
        } else {
            (self.delivered, "delivery")
        };
        summary.push_str(&cpu_line(&self.cpu, self.server_pid, units, unit));
        if self.latency_from_send {
            summary.push_str(
                "\n  (latency and server CPU include the mutation; its own cost is the \
                 --hold-resume row's server CPU/req)",
            );
        }
        let rss_per_subscriber = rss_per_subscriber(self.server_rss_kib, self.subscribers);
        if let (Some((before, after)), Some(kib)) = (self.server_rss_kib, rss_per_subscriber) {
            summary.push_str(&format!(
                "\n  server memory {kib:.1} KiB per subscribed connection ({before} -> {after} KiB)"
            ));
        }
        emit(json, &summary);
        self.errors.print();
        if json {
            let mut line = Map::new();
            line.insert("label".into(), json!(self.label));
            line.insert("mode".into(), json!(self.mode));
            line.insert("subscribers".into(), json!(self.subscribers));
            line.insert("changes".into(), json!(self.changes));
            line.insert("target_rate".into(), json!(self.target_rate));
            line.insert("expected".into(), json!(self.expected));
            line.insert("ok".into(), json!(self.delivered));
            line.insert("early".into(), json!(self.early));
            line.insert("errors".into(), json!(self.errors.total()));
            line.insert("error_kinds".into(), self.errors.kinds_json());
            line.insert("first_error".into(), json!(self.errors.examples.first()));
            line.insert("duration_s".into(), json!(self.window.as_secs_f64()));
            line.insert("rps".into(), json!(round1(rate)));
            line.insert(
                "latency_from".into(),
                json!(if self.latency_from_send {
                    "send"
                } else {
                    "answer"
                }),
            );
            insert_latency(&mut line, &self.latency);
            insert_cpu(&mut line, &self.cpu, units);
            insert_rss(&mut line, self.server_rss_kib, rss_per_subscriber);
            println!("{}", Value::Object(line));
        }
    }
}

/// One phase of a paired targeted run: the same rate of changes, delivered or not.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    /// Whether each change had a subscriber (else the changes went to unwatched orders).
    pub delivers: bool,
    /// Changes answered in the phase.
    pub changes: u64,
    /// The server's CPU over the phase (with the deliveries' arrival, when it delivers).
    pub server: Duration,
}

impl Phase {
    fn us_per_change(&self) -> Option<f64> {
        (self.changes > 0).then(|| self.server.as_secs_f64() * 1e6 / as_f64(self.changes))
    }
}

/// Server CPU per delivery as paired differences: each round has a phase whose changes are
/// delivered and a control phase whose changes are not, back to back, so that what drifts over
/// a run (the database's pages in cache, checkpoints, the machine's neighbours) drifts through
/// both halves of a pair alike. Separate runs disagreed by more than the figure itself.
pub struct PairedReport {
    /// Scenario name.
    pub label: String,
    /// The phases in the order they ran.
    pub phases: Vec<Phase>,
}

/// A round's figures, in µs of server CPU per change.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Round {
    /// With each change delivered to its subscriber.
    pub delivered: f64,
    /// With the changes going to orders nobody watches.
    pub control: f64,
}

impl Round {
    /// What a delivery cost beyond its change.
    pub fn difference(&self) -> f64 {
        self.delivered - self.control
    }
}

impl PairedReport {
    /// The phases paired in the order they ran: each delivered phase with the control phase next
    /// to it in the same round. Phases without changes are left out.
    pub fn rounds(&self) -> Vec<Round> {
        self.phases
            .chunks(2)
            .filter_map(|pair| {
                let [a, b] = pair else { return None };
                let (delivered, control) = match (a.delivers, b.delivers) {
                    (true, false) => (a, b),
                    (false, true) => (b, a),
                    _ => return None,
                };
                Some(Round {
                    delivered: delivered.us_per_change()?,
                    control: control.us_per_change()?,
                })
            })
            .collect()
    }

    /// Prints one line per round, the median difference and the mean with its error (and with
    /// `json`, a JSON line).
    pub fn print(&self, json: bool) {
        let rounds = self.rounds();
        let differences: Vec<f64> = rounds.iter().map(Round::difference).collect();
        let mut summary = format!(
            "{}: server CPU per change in {} paired rounds (delivered / control / difference, µs)",
            self.label,
            rounds.len()
        );
        let mut line = Map::new();
        line.insert("label".into(), json!(self.label));
        line.insert("mode".into(), json!("ws-targeted-paired"));
        // Flat, like every line: `delivered_us_1`, `control_us_1`, `delivered_us_2`...
        line.insert("rounds".into(), json!(rounds.len()));
        for (n, round) in rounds.iter().enumerate() {
            let n = n + 1;
            summary.push_str(&format!(
                "\n  round {n}: {:.1} / {:.1} / {:.1}",
                round.delivered,
                round.control,
                round.difference()
            ));
            line.insert(format!("delivered_us_{n}"), json!(round1(round.delivered)));
            line.insert(format!("control_us_{n}"), json!(round1(round.control)));
        }
        match (median(&differences), spread(&differences)) {
            (Some(median), Some((low, high))) => summary.push_str(&format!(
                "\n  server CPU per delivery beyond its change: median {median:.1} µs (rounds from \
                 {low:.1} to {high:.1})"
            )),
            _ => summary.push_str("\n  no complete round (needs --server-pid)"),
        }
        line.insert(
            "delivery_us_median".into(),
            json!(median(&differences).map(round1)),
        );
        if let Some((mean, error)) = mean_and_error(&differences) {
            summary.push_str(&format!(
                "; mean {mean:.1} ± {:.1} µs (two standard errors)",
                2.0 * error
            ));
            line.insert("delivery_us_mean".into(), json!(round1(mean)));
            line.insert("delivery_us_2se".into(), json!(round1(2.0 * error)));
        }
        emit(json, &summary);
        if json {
            println!("{}", Value::Object(line));
        }
    }
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[mid]),
        _ => Some((sorted[mid - 1] + sorted[mid]) / 2.0),
    }
}

/// The mean and its standard error (the sample's standard deviation over the square root of its
/// size): with a few dozen rounds, the mean ± two standard errors holds the true difference about
/// 95 times in 100. Needs two values at least.
fn mean_and_error(values: &[f64]) -> Option<(f64, f64)> {
    if values.len() < 2 {
        return None;
    }
    let n = as_f64(values.len() as u64);
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, (variance / n).sqrt()))
}

fn spread(values: &[f64]) -> Option<(f64, f64)> {
    let low = values.iter().copied().min_by(f64::total_cmp)?;
    let high = values.iter().copied().max_by(f64::total_cmp)?;
    Some((low, high))
}

/// The result of an idle run: subscriptions opened and left alone.
pub struct IdleReport {
    /// Scenario name.
    pub label: String,
    /// Subscriptions asked for.
    pub asked: usize,
    /// Subscriptions that were open and live.
    pub subscribers: usize,
    /// Every failure.
    pub errors: ErrorTally,
    /// The idle window.
    pub window: Duration,
    /// CPU over the idle window.
    pub cpu: CpuUse,
    /// The server's pid, if given.
    pub server_pid: Option<u32>,
    /// Server memory (KiB) before and after opening the subscriptions.
    pub server_rss_kib: Option<(u64, u64)>,
    /// Server memory (KiB) at the end of the idle window.
    pub server_rss_kib_end: Option<u64>,
}

impl IdleReport {
    /// Prints the summary and, with `json`, the JSON line.
    pub fn print(&self, json: bool) {
        let rss_per_subscriber = rss_per_subscriber(self.server_rss_kib, self.subscribers);
        let mut summary = format!(
            "{}: {}/{} subscriptions live, idle for {:.1}s, {} errors",
            self.label,
            self.subscribers,
            self.asked,
            self.window.as_secs_f64(),
            self.errors.total(),
        );
        match (self.server_rss_kib, rss_per_subscriber) {
            (Some((before, after)), Some(kib)) => summary.push_str(&format!(
                "\n  server memory {kib:.1} KiB per subscribed connection ({before} -> {after} KiB, \
                 {} KiB at the end of the idle window)",
                self.server_rss_kib_end
                    .map_or_else(|| "?".to_owned(), |kib| kib.to_string()),
            )),
            _ => summary.push_str("\n  server memory not measured (no --server-pid)"),
        }
        if let Some(pct) = self.server_cpu_pct() {
            summary.push_str(&format!(
                "\n  server CPU while idle {pct:.1} % of one core (pid {})",
                self.server_pid.unwrap_or_default()
            ));
        }
        emit(json, &summary);
        self.errors.print();
        if json {
            let mut line = Map::new();
            line.insert("label".into(), json!(self.label));
            line.insert("mode".into(), json!("ws-idle"));
            line.insert("subscribers".into(), json!(self.subscribers));
            line.insert("ok".into(), json!(self.subscribers));
            line.insert("errors".into(), json!(self.errors.total()));
            line.insert("error_kinds".into(), self.errors.kinds_json());
            line.insert("first_error".into(), json!(self.errors.examples.first()));
            line.insert("duration_s".into(), json!(self.window.as_secs_f64()));
            line.insert("rps".into(), json!(0.0));
            line.insert(
                "server_cpu_pct".into(),
                json!(self.server_cpu_pct().map(round1)),
            );
            insert_rss(&mut line, self.server_rss_kib, rss_per_subscriber);
            line.insert("server_rss_kib_end".into(), json!(self.server_rss_kib_end));
            println!("{}", Value::Object(line));
        }
    }

    fn server_cpu_pct(&self) -> Option<f64> {
        let server = self.cpu.server?;
        (!self.cpu.wall.is_zero())
            .then(|| server.as_secs_f64() * 100.0 / self.cpu.wall.as_secs_f64())
    }
}

/// Memory growth per live subscription, in KiB (negative growth, from memory returned to the
/// system meanwhile, counts as none).
fn rss_per_subscriber(rss_kib: Option<(u64, u64)>, subscribers: usize) -> Option<f64> {
    let (before, after) = rss_kib?;
    (subscribers > 0).then(|| as_f64(after.saturating_sub(before)) / as_f64(subscribers as u64))
}

fn insert_rss(line: &mut Map<String, Value>, rss_kib: Option<(u64, u64)>, per: Option<f64>) {
    line.insert(
        "server_rss_kib_before".into(),
        json!(rss_kib.map(|(before, _)| before)),
    );
    line.insert(
        "server_rss_kib_after".into(),
        json!(rss_kib.map(|(_, after)| after)),
    );
    line.insert(
        "server_rss_kib_per_subscriber".into(),
        json!(per.map(round1)),
    );
}

fn cpu_line(cpu: &CpuUse, server_pid: Option<u32>, units: u64, unit: &str) -> String {
    let mut line = String::new();
    match (server_pid, cpu.server_us_per(units)) {
        (Some(pid), Some(us)) => {
            line.push_str(&format!("\n  server CPU {us:.0} µs/{unit} (pid {pid})"))
        }
        (Some(pid), None) => {
            line.push_str(&format!("\n  server CPU unknown (pid {pid} unreadable)"))
        }
        (None, _) => line.push_str("\n  server CPU not measured (no --server-pid)"),
    }
    if let Some(pct) = cpu.own_pct() {
        line.push_str(&format!(", load generator CPU {pct:.0} % of one core"));
        if let Some(us) = cpu.own_us_per(units) {
            line.push_str(&format!(" ({us:.0} µs/{unit})"));
        }
        if pct > CLIENT_SATURATED_PCT {
            line.push_str(" (SATURATED: the figure may be the client's limit, not the server's)");
        }
    }
    line
}

fn insert_latency(line: &mut Map<String, Value>, latency: &LatencySummary) {
    line.insert("mean_us".into(), json!(round1(latency.mean_us)));
    line.insert("p50_us".into(), json!(latency.p50_us));
    line.insert("p90_us".into(), json!(latency.p90_us));
    line.insert("p99_us".into(), json!(latency.p99_us));
    line.insert("p999_us".into(), json!(latency.p999_us));
    line.insert("max_us".into(), json!(latency.max_us));
}

fn insert_cpu(line: &mut Map<String, Value>, cpu: &CpuUse, units: u64) {
    line.insert(
        "server_cpu_us_per_req".into(),
        json!(cpu.server_us_per(units).map(round1)),
    );
    line.insert("client_cpu_pct".into(), json!(cpu.own_pct().map(round1)));
    line.insert(
        "client_cpu_us_per_req".into(),
        json!(cpu.own_us_per(units).map(round1)),
    );
}

/// Human output goes to stdout, unless stdout carries the JSON line.
fn emit(json: bool, text: &str) {
    if json {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}

fn per_second(count: u64, window: Duration) -> f64 {
    if window.is_zero() {
        0.0
    } else {
        as_f64(count) / window.as_secs_f64()
    }
}

/// Counts are far below 2^53, where u64 -> f64 is exact.
#[allow(clippy::cast_precision_loss)]
fn as_f64(count: u64) -> f64 {
    count as f64
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(delivers: bool, changes: u64, server_ms: u64) -> Phase {
        Phase {
            delivers,
            changes,
            server: Duration::from_millis(server_ms),
        }
    }

    #[test]
    fn rounds_pair_each_delivered_phase_with_its_neighbouring_control_in_either_order() {
        let report = PairedReport {
            label: String::new(),
            phases: vec![
                // Round 1 delivered first, round 2 control first (ABBA).
                phase(true, 1000, 480),
                phase(false, 1000, 420),
                phase(false, 2000, 900),
                phase(true, 2000, 950),
            ],
        };
        let rounds = report.rounds();
        assert_eq!(
            rounds,
            [
                Round {
                    delivered: 480.0,
                    control: 420.0
                },
                Round {
                    delivered: 475.0,
                    control: 450.0
                },
            ]
        );
        assert_eq!(rounds[0].difference(), 60.0);
        assert_eq!(rounds[1].difference(), 25.0);
    }

    #[test]
    fn a_round_without_changes_or_of_one_kind_twice_is_left_out() {
        let report = PairedReport {
            label: String::new(),
            phases: vec![
                phase(true, 0, 10),
                phase(false, 1000, 420),
                phase(true, 1000, 480),
                phase(true, 1000, 480),
                phase(true, 1000, 470),
            ],
        };
        assert!(report.rounds().is_empty());
    }

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[30.0, -5.0, 12.0]), Some(12.0));
        assert_eq!(median(&[30.0, -5.0, 12.0, 20.0]), Some(16.0));
        assert_eq!(spread(&[30.0, -5.0, 12.0]), Some((-5.0, 30.0)));
    }

    #[test]
    fn the_mean_comes_with_its_standard_error() {
        assert_eq!(mean_and_error(&[7.0]), None);
        let (mean, error) = mean_and_error(&[10.0, 20.0, 30.0, 40.0]).unwrap();
        assert_eq!(mean, 25.0);
        // Sample variance 166.67 over 4 values: standard error sqrt(41.67) = 6.45.
        assert!((error - 6.455).abs() < 0.001, "{error}");
        assert_eq!(mean_and_error(&[5.0, 5.0, 5.0]), Some((5.0, 0.0)));
    }
}
