//! orderdesk's analytics: the KPIs a sales team steers by (sales, pipeline, delivery, quality,
//! cash, customers, reps). Depends on `domain` only; data reaches it through traits that
//! `persistence` implements.
//!
//! This crate holds only its skeleton until the analytics issue is taken up.
