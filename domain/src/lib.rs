//! orderdesk's domain: the order lifecycle, its rules and the ports storage implements.
//!
//! Pure: no IO, no async runtime, no ORM. Time and identities come in as arguments.
//!
//! # Layout
//! - [`money`]: exact amounts with a currency and the one rounding rule;
//! - [`catalog`]: customers, products, payment terms;
//! - [`archive`]: order notes, interactions, follow-ups, purchase history;
//! - [`user`]: users, roles, the [`user::Actor`] and visibility;
//! - [`order`]: orders, lines, totals;
//! - [`lifecycle`]: statuses, commands, the transition table and [`lifecycle::decide`];
//! - [`review`]: review rules run on submit;
//! - [`settlement`]: invoices, payments and the payment status they give an order;
//! - [`receivables`]: aging of open invoices by customer or rep, payment behaviour;
//! - [`tracking`]: milestones, expected dates, shipments, exceptions and change requests;
//! - [`event`]: domain events stored with each change;
//! - [`ports`]: repository traits with their contracts;
//! - [`error`]: typed errors.

pub mod archive;
pub mod catalog;
pub mod error;
pub mod event;
pub mod ids;
pub mod lifecycle;
pub mod money;
pub mod order;
pub mod ports;
pub mod receivables;
pub mod review;
pub mod settlement;
pub mod tracking;
pub mod user;

pub use error::{OrderError, ValidationError};
pub use ids::{CustomerId, OrderId, ProductId, UserId};
