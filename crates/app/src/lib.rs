#![doc = include_str!("../README.md")]

pub mod cli;
pub mod sandbox_cmd;
pub mod settings;
pub mod startup;
pub mod store;
pub mod telemetry;
