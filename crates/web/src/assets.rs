//! Templates and static files compiled into the binary. In debug builds rust-embed reads them from
//! disk instead, so editing a stylesheet needs no rebuild.

use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../templates/"]
pub(crate) struct TemplateFiles;

#[derive(RustEmbed)]
#[folder = "../../static/"]
pub(crate) struct StaticFiles;
