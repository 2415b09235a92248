//! orderdesk's analytics: the KPIs a sales team steers by (sales, pipeline, delivery, quality,
//! cash, customers, reps). Depends on `domain` only; data reaches it through
//! [`domain::ports::AnalyticsRepository`], which `persistence` implements with SQL aggregates.
//!
//! # Layout
//! - [`sales`]: the sales summary (order count, value and average per bucket, currency and
//!   status group).
//! - [`pipeline`]: conversion (submitted -> confirmed) and review outcomes by rule code.
//! - [`delivery`]: cycle times per lifecycle stage (median, p90) and the on-time delivery rate.
//! - [`quality`]: the exception Pareto by kind and root cause, with lessons learned.
//! - [`stats`]: the shared math: calendar buckets, averages and nearest-rank percentiles.
//!
//! Money is never summed across currencies: every money figure carries its currency.

pub mod delivery;
pub mod pipeline;
pub mod quality;
pub mod sales;
pub mod stats;
