//! What handlers call to do real work; handlers stay small.

pub mod install;
pub mod uninstall;
