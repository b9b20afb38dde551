//! headroom: a local reverse proxy that compresses what LLM agents put in their prompts.
//!
//! The binary (`src/main.rs`) only parses the command line and calls into this library.

pub mod allocator;
pub mod cli;
mod cold_pages;
pub use headroom_compress as compress;
pub mod compress_cli;
pub mod config;
pub mod dashboard;
pub mod logging;
pub mod logline;
pub mod metrics;
pub use headroom_model as model;
pub mod model_glue;
pub mod notify;
pub mod observe;
pub mod pricing;
pub mod proxy;
pub mod reload;
pub mod retrieval;
pub mod retrieve_cli;
pub mod server;
pub mod service;
pub mod signals;
pub mod state;
pub mod stats;
pub use headroom_store as store;
pub mod supervisor;
pub mod team;
pub mod upstream;
pub mod usage;
