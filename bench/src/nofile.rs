//! The open-file limit: every websocket is a file descriptor, and the usual soft limit (1,024)
//! is far below the 10,000 subscriptions the benchmark opens, while the hard limit is not.
//!
//! bench does not depend on `libc` or `rlimit` (the server uses the latter); the two calls are
//! declared here against the C library std already links.

use std::io;

/// Raises this process's soft limit on open files to its hard limit (what `ulimit -n $(ulimit
/// -Hn)` does in a shell) and returns the new soft limit (`u64::MAX` for unlimited).
///
/// # Errors
/// When the limit cannot be read or set, or on a platform where this is not implemented.
pub fn raise_open_files_limit() -> io::Result<u64> {
    sys::raise()
}

/// The soft and hard "Max open files" of a `/proc/<pid>/limits` file (`u64::MAX` for
/// `unlimited`).
#[must_use]
pub fn parse_open_files_limits(limits: &str) -> Option<(u64, u64)> {
    let line = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    let mut fields = line.split_whitespace().map(|field| match field {
        "unlimited" => Some(u64::MAX),
        number => number.parse().ok(),
    });
    Some((fields.next()??, fields.next()??))
}

// `RLIMIT_NOFILE` is 7 and `rlim_t` a 64-bit `unsigned long` on the 64-bit Linux architectures
// listed (MIPS and SPARC number the resource differently, hence a list instead of `target_os`).
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "powerpc64",
        target_arch = "s390x"
    )
))]
mod sys {
    use std::ffi::c_int;
    use std::io;

    const RLIMIT_NOFILE: c_int = 7;

    /// `struct rlimit`; `RLIM_INFINITY` is `u64::MAX`, as [`raise`] reports unlimited.
    #[repr(C)]
    struct Rlimit {
        current: u64,
        maximum: u64,
    }

    unsafe extern "C" {
        fn getrlimit(resource: c_int, limit: *mut Rlimit) -> c_int;
        fn setrlimit(resource: c_int, limit: *const Rlimit) -> c_int;
    }

    pub fn raise() -> io::Result<u64> {
        let mut limit = Rlimit {
            current: 0,
            maximum: 0,
        };
        // SAFETY: `limit` is a valid, writable `struct rlimit` of the C library's layout.
        if unsafe { getrlimit(RLIMIT_NOFILE, &raw mut limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.current != limit.maximum {
            limit.current = limit.maximum;
            // SAFETY: as above, read only; raising the soft limit up to the hard one needs no
            // privilege.
            if unsafe { setrlimit(RLIMIT_NOFILE, &raw const limit) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(limit.current)
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "powerpc64",
        target_arch = "s390x"
    )
)))]
mod sys {
    use std::io;

    pub fn raise() -> io::Result<u64> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "raising the open-file limit is implemented for Linux only",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max cpu time              unlimited            unlimited            seconds   \n\
        Max open files            1024                 524288               files     \n\
        Max locked memory         8388608              8388608              bytes     \n";

    #[test]
    fn the_open_files_line_gives_soft_and_hard_limits() {
        assert_eq!(parse_open_files_limits(LIMITS), Some((1024, 524_288)));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(
            parse_open_files_limits(unlimited),
            Some((u64::MAX, u64::MAX))
        );
        assert_eq!(parse_open_files_limits("Max cpu time 1 2 s\n"), None);
    }

    #[test]
    fn after_raising_the_soft_limit_equals_the_hard_limit() {
        if cfg!(target_os = "linux") {
            let raised = raise_open_files_limit().expect("raise the limit");
            let limits = std::fs::read_to_string("/proc/self/limits").expect("own limits");
            let (soft, hard) = parse_open_files_limits(&limits).expect("an open-files line");
            assert_eq!((soft, hard), (raised, raised));
        }
    }
}
