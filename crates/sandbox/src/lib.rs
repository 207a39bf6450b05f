#![doc = include_str!("../README.md")]

pub mod spec;
mod spec_table;
