//! A tiny demo store, so a first run has somewhere to place an order.

use super::{ProductSpec, StoreSpec};

/// The demo store's spec for account `api_key`: three products in EUR.
pub fn demo_store(api_key: &str) -> StoreSpec {
    let product = |sku: &str, name: &str, price: f64| ProductSpec {
        sku: sku.to_owned(),
        name: name.to_owned(),
        price,
        quantity: 100,
    };
    StoreSpec {
        api_key: api_key.to_owned(),
        name: "Demo Ceramics".to_owned(),
        url: None,
        currency: Some("EUR".to_owned()),
        products: vec![
            product("MUG-BLUE", "Blue glazed mug", 24.0),
            product("BOWL-SET", "Set of four bowls", 59.9),
            product("VASE-TALL", "Tall vase", 89.5),
        ],
    }
}
