//! sea-orm entities: private to this crate. The row is not the domain type; `convert` maps them.

pub mod change_request;
pub mod collection_activity;
pub mod customer;
pub mod idempotency_key;
pub mod interaction;
pub mod invoice;
pub mod milestone;
pub mod order;
pub mod order_event;
pub mod order_exception;
pub mod order_line;
pub mod order_note;
pub mod order_revision;
pub mod payment;
pub mod product;
pub mod refresh_token;
pub mod shipment;
pub mod user;
