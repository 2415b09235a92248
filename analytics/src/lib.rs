//! orderdesk's analytics: the KPIs a sales team steers by (sales, pipeline, delivery, quality,
//! cash, customers, reps). Depends on `domain` only; data reaches it through
//! [`domain::ports::AnalyticsRepository`], which `persistence` implements with SQL aggregates.
//!
//! # Layout
//! - [`sales`]: the sales summary (order count, value and average per bucket, currency and
//!   status group).
//! - [`pipeline`]: conversion (submitted -> confirmed) and review outcomes by rule code.
//! - [`delivery`]: cycle times per lifecycle stage (median, p90) and the on-time delivery rate.
//! - [`quality`]: change-request and exception rates, and the exception Pareto by kind and root
//!   cause, with lessons learned and impact totals.
//! - [`cash`]: invoiced, collected, outstanding, overdue, aging buckets and DSO.
//! - [`customers`]: RFM segments, lapsed customers and payment behaviour.
//! - [`reps`]: one scorecard per sales rep.
//! - [`export`]: every report as CSV text for spreadsheets.
//! - [`stats`]: the shared math: calendar buckets, averages and nearest-rank percentiles.
//!
//! Money is never summed across currencies: every money figure carries its currency.

pub mod cash;
pub mod customers;
pub mod delivery;
pub mod export;
pub mod pipeline;
pub mod quality;
pub mod reps;
pub mod sales;
pub mod stats;
