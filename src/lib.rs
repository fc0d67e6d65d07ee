//! headcount: a GraphQL gateway for user, access and license reporting.
//!
//! Data flows one way: HTTP → auth & limits ([`server`]) → GraphQL resolver
//! ([`graphql`]) → domain ([`service`]) → SeaORM → database.

pub mod clock;
pub mod config;
pub mod db;
pub mod graphiql;
pub mod graphql;
pub mod seed;
pub mod server;
pub mod service;
pub mod time;
