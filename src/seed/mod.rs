//! Loading data: the small demo set, written through the services, and the
//! bulk generator that tests and benchmarks use.

mod demo;
mod generate;

pub use demo::demo;
pub use generate::{GenerateSpec, generate};
