use std::sync::Arc;

use dealbridge_storage::Store;

use crate::Templates;

/// What every handler can reach, shared by all actix workers (built once at start-up).
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub templates: Templates,
}
