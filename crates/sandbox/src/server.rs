//! The shared state every handler sees, and the actix application that serves it.

use std::sync::{Mutex, MutexGuard};

use actix_web::web;

use crate::api::router::Router;
use crate::clock::Clock;
use crate::world::World;

pub struct Shared {
    pub clock: Clock,
    world: Mutex<World>,
    pub router: Router,
    pub http: reqwest::Client,
    /// Scales webhook retry delays and timeouts.
    pub time_scale: f64,
    /// The API2Cart stand-in's stores.
    pub api2cart: crate::api2cart::State,
}

impl Shared {
    pub fn new(world: World, time_scale: f64, frozen_clock: bool) -> Self {
        Self {
            clock: Clock::new(frozen_clock),
            world: Mutex::new(world),
            router: Router::new(),
            // No global timeout: each webhook attempt sets its own (10 s scaled).
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            time_scale,
            api2cart: crate::api2cart::State::default(),
        }
    }

    /// Locks the world. A poisoned lock means a handler panicked mid-update; the state is still
    /// the best we have, so the sandbox keeps serving rather than failing every later call.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A real-time duration for a Pipedrive duration, after `time_scale`.
    pub fn scaled(&self, secs: f64) -> std::time::Duration {
        std::time::Duration::from_secs_f64((secs * self.time_scale).max(0.0))
    }
}

/// Registers every surface: OAuth, the control API and page, the API2Cart stand-in, and the
/// Pipedrive REST API as the fallback.
pub fn configure(cfg: &mut web::ServiceConfig) {
    crate::oauth::configure(cfg);
    crate::control::configure(cfg);
    crate::api2cart::configure(cfg);
    cfg.default_service(web::to(crate::api::dispatch));
}
