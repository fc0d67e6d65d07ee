//! Loading data: the small demo set, written through the services, and the
//! bulk generator that tests and benchmarks use.

mod activity;
mod demo;
mod generate;
mod logs;
mod tokens;

pub use activity::{ActivitySpec, generate_activity};
pub use demo::demo;
pub use generate::{GenerateSpec, generate};
pub use logs::{LogSpec, generate_logs};
pub use tokens::{TokenSpec, generate_tokens};
