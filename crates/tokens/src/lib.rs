#![doc = include_str!("../README.md")]

mod seal;

pub use seal::{open, seal, OpenTokens, SealError};
