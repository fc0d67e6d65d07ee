//! headcount: a GraphQL gateway for user, access and license reporting.
//!
//! Data flows one way: HTTP → auth & limits ([`http`]) → GraphQL resolver
//! ([`graphql`]) → domain ([`service`]) → SeaORM → database. Report jobs
//! ([`jobs`]) read through the same GraphQL queries, as their requester.

pub mod clock;
pub mod config;
pub mod db;
pub mod events;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod progress;
pub mod seed;
pub mod service;
pub mod time;
