//! CPU time and resident memory of a process, read from Linux `/proc`.
//!
//! Reading `/proc/<pid>/stat` before and after a measured window costs nothing and gives the
//! server's CPU per request (user + system time of every thread), which is a steadier figure than
//! throughput on a machine whose clock speed and neighbours vary.

use std::io;
use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat` times. The kernel reports these in `USER_HZ`,
/// which is 100 on every architecture Linux runs on today (it is part of the user-space ABI and
/// independent of the kernel's internal `HZ`), so there is no need to ask `sysconf`.
pub const USER_HZ: u64 = 100;

/// User + system CPU time the process `pid` (`None`: this process) has used so far, all threads
/// included. The resolution is 10 ms: measure windows of seconds, not milliseconds.
///
/// # Errors
/// When `/proc/<pid>/stat` cannot be read (no such process, not Linux) or has an unknown shape.
pub fn cpu_time(pid: Option<u32>) -> io::Result<Duration> {
    let path = proc_path(pid, "stat");
    let stat = std::fs::read_to_string(&path)?;
    let ticks = parse_stat_cpu_ticks(&stat).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path}: unknown format"),
        )
    })?;
    Ok(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// CPU time the process `pid` (`None`: this process) has used so far, all threads included, to
/// the nanosecond: the scheduler's own sum, read from the process's CPU-time clock
/// (`clock_getcpuclockid`). [`cpu_time`] reports the same sum in 10 ms ticks, too coarse for the
/// phases of a few seconds of `loadgen --ws-paired`, whose difference is a few microseconds per
/// change.
///
/// # Errors
/// When there is no such process (or not on Linux).
pub fn cpu_time_precise(pid: Option<u32>) -> io::Result<Duration> {
    let pid = match pid {
        Some(pid) => libc::pid_t::try_from(pid)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?,
        None => 0,
    };
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid place for the clock id; the call writes nothing else.
    let failed = unsafe { libc::clock_getcpuclockid(pid, &raw mut clock) };
    if failed != 0 {
        return Err(io::Error::from_raw_os_error(failed));
    }
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write to.
    if unsafe { libc::clock_gettime(clock, &raw mut now) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let secs = u64::try_from(now.tv_sec).unwrap_or_default();
    let nanos = u32::try_from(now.tv_nsec).unwrap_or_default();
    Ok(Duration::new(secs, nanos))
}

/// Resident set size of the process `pid` (`None`: this process) in KiB (`VmRSS`).
///
/// # Errors
/// When `/proc/<pid>/status` cannot be read or has no `VmRSS` line.
pub fn rss_kib(pid: Option<u32>) -> io::Result<u64> {
    let path = proc_path(pid, "status");
    let status = std::fs::read_to_string(&path)?;
    parse_status_rss_kib(&status)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{path}: no VmRSS")))
}

fn proc_path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

/// `utime + stime` (fields 14 and 15, in clock ticks) of a `/proc/<pid>/stat` line.
///
/// The second field, the command name in parentheses, may itself contain spaces and
/// parentheses, so fields are counted from the *last* `)`.
#[must_use]
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so utime (14) is index 11 and stime (15) 12.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The `VmRSS:` value of a `/proc/<pid>/status` file, in KiB.
#[must_use]
pub fn parse_status_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (tokio (worker) 1) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    750 250 0 0 20 0 9 0 123456 1000000 2000 18446744073709551615";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(1000));
    }

    #[test]
    fn a_truncated_stat_line_is_refused() {
        assert_eq!(parse_stat_cpu_ticks("4242 (orderdesk) S 1 2 3"), None);
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn rss_is_read_from_the_status_file() {
        let status = "Name:\torderdesk\nVmPeak:\t  900000 kB\nVmRSS:\t   51234 kB\nThreads:\t3\n";
        assert_eq!(parse_status_rss_kib(status), Some(51_234));
        assert_eq!(parse_status_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn the_precise_clock_counts_the_cpu_a_thread_burns_and_agrees_with_proc() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let pid = Some(std::process::id());
        let (precise, ticks) = (cpu_time_precise(pid).unwrap(), cpu_time(pid).unwrap());
        // Another thread burns 200 ms of CPU (however busy the machine) and ends: a process's
        // clock counts all of its threads, those that have exited too.
        std::thread::spawn(move || {
            let give_up = std::time::Instant::now() + Duration::from_secs(20);
            let mut x = 0_u64;
            while cpu_time_precise(pid).unwrap() - precise < Duration::from_millis(200)
                && std::time::Instant::now() < give_up
            {
                for _ in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            }
        })
        .join()
        .unwrap();
        let burnt = cpu_time_precise(pid).unwrap() - precise;
        let burnt_ticks = cpu_time(pid).unwrap() - ticks;
        assert!(burnt >= Duration::from_millis(200), "{burnt:?}");
        assert!(
            burnt.abs_diff(burnt_ticks) <= Duration::from_millis(30),
            "{burnt:?} against {burnt_ticks:?} in ticks"
        );
        assert!(cpu_time_precise(Some(u32::MAX)).is_err(), "no such process");
    }

    #[test]
    fn this_process_can_read_its_own_cpu_and_memory() {
        // Linux only, like the benchmark; proves the paths and field positions on a real kernel.
        if cfg!(target_os = "linux") {
            assert!(cpu_time(None).is_ok());
            assert!(rss_kib(None).expect("own RSS") > 0);
        }
    }
}
