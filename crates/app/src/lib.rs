#![doc = include_str!("../README.md")]

pub mod cli;
pub mod console_bootstrap;
pub mod demo_store;
pub mod healthcheck_cmd;
pub mod keys_cmd;
pub mod metrics_export;
pub mod pipedrive_setup;
pub mod private_mode;
pub mod sandbox_cmd;
pub mod secrets;
pub mod settings;
pub mod staff_cmd;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod workers;
