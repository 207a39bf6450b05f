//! What handlers call to do real work; handlers stay small.

pub mod activity;
pub mod budget_chart;
pub mod console;
pub mod demo_store;
pub mod event_api_secrets;
pub mod events_view;
pub mod first_account;
pub mod imports;
pub mod install;
pub mod installer_name;
pub mod job_retry;
pub mod pipedrive_access;
pub mod rejections;
pub mod settings_choices;
pub mod settings_form;
pub mod settings_page;
pub mod settings_save;
pub mod staff;
pub mod staff_totp;
pub mod store_connections;
pub mod tenant_actions;
pub mod tenant_health;
pub mod timeline;
pub mod timeline_entries;
pub mod token_refresh;
pub mod uninstall;
