//! Offline, the embedded sandbox's demo API2Cart store is described in `<data_dir>/demo-store.json`
//! (its key and products), so a developer can place an order in it through the sandbox's control
//! API. Readable by its owner only, like the other local secrets; replaced on every start, since
//! the sandbox keeps its stores in memory. Only the file's path is logged.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context;
use dealbridge_sandbox::Control;
use secrecy::{ExposeSecret, SecretString};

pub const DEMO_STORE_FILE: &str = "demo-store.json";

pub fn describe(
    data_dir: &Path,
    control: &Control,
    store_key: &SecretString,
) -> anyhow::Result<()> {
    let products: Vec<serde_json::Value> = control
        .api2cart()
        .products(store_key.expose_secret())?
        .iter()
        .map(|p| serde_json::json!({ "id": p["id"], "name": p["name"], "price": p["price"] }))
        .collect();
    let description = serde_json::json!({
        "store_key": store_key.expose_secret(),
        "products": products,
    });
    crate::secrets::create_private_dir(data_dir)?;
    let path = data_dir.join(DEMO_STORE_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    writeln!(file, "{description:#}")?;
    tracing::info!(path = %path.display(), "demo API2Cart store described");
    Ok(())
}
