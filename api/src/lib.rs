//! orderdesk's API server: the GraphQL schema on axum, JWT auth, subscriptions, configuration
//! and the `orderdesk` binary.
//!
//! # Layout
//! - `graphql/`: schema, resolvers per aggregate, loaders, error mapping;
//! - `http/`: router, auth, websocket;
//! - `service/`: authorization and use cases, and the live event dispatcher;
//! - `app`, `cli`, `seed`: wiring, the command line, demo data.

pub mod app;
pub mod cli;
pub mod graphql;
pub mod http;
pub mod log_line;
pub mod log_writer;
pub mod review_config;
pub mod seed;
pub mod service;
