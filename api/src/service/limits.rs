//! Rate limits: token buckets per user and per client address for mutations and sign-ins, and a
//! lockout after repeated failed sign-ins for one e-mail. In memory, per instance.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use domain::UserId;

/// Limits, configurable from the command line.
#[derive(Clone, Debug)]
pub struct LimitConfig {
    /// Mutations per minute for one user.
    pub mutations_per_minute: u32,
    /// Mutations per minute from one client address (all its users together).
    pub address_mutations_per_minute: u32,
    /// Sign-in attempts per minute from one client address.
    pub logins_per_minute: u32,
    /// Failed sign-ins for one e-mail before it is locked.
    pub lockout_after_failures: u32,
    /// How long a locked e-mail stays locked.
    pub lockout: Duration,
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            mutations_per_minute: 600,
            address_mutations_per_minute: 3000,
            logins_per_minute: 20,
            lockout_after_failures: 5,
            lockout: Duration::from_secs(300),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    MutationsOfUser(UserId),
    MutationsFrom(IpAddr),
    LoginsFrom(IpAddr),
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

/// Buckets grow with distinct users and addresses; past this many, full ones are forgotten.
const PRUNE_ABOVE: usize = 50_000;

/// The limiter shared by all requests of one instance.
#[derive(Debug)]
pub struct Limits {
    config: LimitConfig,
    buckets: Mutex<HashMap<Key, Bucket>>,
    failures: Mutex<HashMap<String, Failures>>,
}

/// A refusal: how long until trying again makes sense.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl Limits {
    /// A limiter with `config`.
    pub fn new(config: LimitConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one mutation from the user's and the address's buckets.
    ///
    /// # Errors
    /// `RetryAfter` when either bucket is empty.
    pub fn mutation(&self, user: Option<UserId>, ip: Option<IpAddr>) -> Result<(), RetryAfter> {
        if let Some(user) = user {
            self.take(Key::MutationsOfUser(user), self.config.mutations_per_minute)?;
        }
        if let Some(ip) = ip {
            self.take(
                Key::MutationsFrom(ip),
                self.config.address_mutations_per_minute,
            )?;
        }
        Ok(())
    }

    /// Checks a sign-in attempt: the address's rate and the e-mail's lockout.
    ///
    /// # Errors
    /// `RetryAfter` when the address is too fast or the e-mail is locked.
    pub fn login_attempt(&self, email: &str, ip: Option<IpAddr>) -> Result<(), RetryAfter> {
        if let Some(ip) = ip {
            self.take(Key::LoginsFrom(ip), self.config.logins_per_minute)?;
        }
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match failures
            .get(&email.to_lowercase())
            .and_then(|f| f.locked_until)
        {
            Some(until) if until > Instant::now() => Err(RetryAfter(until - Instant::now())),
            _ => Ok(()),
        }
    }

    /// Records the outcome of a sign-in; enough failures in a row lock the e-mail.
    pub fn login_result(&self, email: &str, succeeded: bool) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = email.to_lowercase();
        if succeeded {
            failures.remove(&key);
            return;
        }
        if failures.len() > PRUNE_ABOVE {
            let now = Instant::now();
            failures.retain(|_, f| f.locked_until.is_some_and(|until| until > now));
        }
        let entry = failures.entry(key).or_insert(Failures {
            count: 0,
            locked_until: None,
        });
        if entry
            .locked_until
            .is_some_and(|until| until <= Instant::now())
        {
            *entry = Failures {
                count: 0,
                locked_until: None,
            };
        }
        entry.count += 1;
        if entry.count >= self.config.lockout_after_failures {
            entry.locked_until = Some(Instant::now() + self.config.lockout);
        }
    }

    fn take(&self, key: Key, per_minute: u32) -> Result<(), RetryAfter> {
        let capacity = f64::from(per_minute.max(1));
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.refilled).as_secs_f64() * per_second < capacity
            });
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: capacity,
            refilled: now,
        });
        bucket.tokens = (bucket.tokens
            + now.duration_since(bucket.refilled).as_secs_f64() * per_second)
            .min(capacity);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(RetryAfter(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / per_second,
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_minute: u32, lockout_after: u32) -> Limits {
        Limits::new(LimitConfig {
            mutations_per_minute: per_minute,
            address_mutations_per_minute: per_minute,
            logins_per_minute: per_minute,
            lockout_after_failures: lockout_after,
            lockout: Duration::from_secs(60),
        })
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_per_user_and_per_address() {
        let limits = limits(3, 5);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.mutation(Some(UserId(1)), Some(ip)).is_ok());
        }
        let refused = limits.mutation(Some(UserId(1)), None).unwrap_err();
        assert!(
            refused.0 > Duration::from_secs(1) && refused.0 <= Duration::from_secs(20),
            "{refused:?}"
        );
        // Another user from the same address is limited by the address's bucket.
        assert!(limits.mutation(Some(UserId(2)), Some(ip)).is_err());
        // Another user elsewhere is not.
        assert!(
            limits
                .mutation(Some(UserId(2)), Some("10.0.0.2".parse().unwrap()))
                .is_ok()
        );
    }

    #[test]
    fn repeated_failed_sign_ins_lock_the_email_until_the_lockout_ends() {
        let limits = limits(100, 3);
        for _ in 0..3 {
            assert!(limits.login_attempt("Ann@x.co", None).is_ok());
            limits.login_result("Ann@x.co", false);
        }
        assert!(
            limits.login_attempt("ann@x.co", None).is_err(),
            "locked, whatever the case"
        );
        assert!(
            limits.login_attempt("bob@x.co", None).is_ok(),
            "others are not"
        );
    }

    #[test]
    fn a_success_clears_the_failure_count() {
        let limits = limits(100, 3);
        limits.login_result("ann@x.co", false);
        limits.login_result("ann@x.co", false);
        limits.login_result("ann@x.co", true);
        limits.login_result("ann@x.co", false);
        assert!(limits.login_attempt("ann@x.co", None).is_ok());
    }
}
