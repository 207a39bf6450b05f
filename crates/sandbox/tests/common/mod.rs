//! Shared test helpers: a sandbox with one app and one company, a request helper, and a small
//! HTTP receiver that records what the sandbox sends (webhooks, uninstall notices).

#![allow(dead_code)]

pub mod a2c_schema;
pub mod schema;

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use dealbridge_sandbox::{
    AppSpec, CompanySpec, Plan, SandboxConfig, SandboxHandle, TokenGrant, UserSpec,
};
use serde_json::Value;

pub const CLIENT_ID: &str = "dealbridge-test";
pub const CLIENT_SECRET: &str = "s3cret";

/// One request the receiver saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    /// Every header, names in lower case.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The raw body, for senders that post an empty one.
    pub raw: Vec<u8>,
    pub body: Value,
    pub at: std::time::Instant,
}

/// An HTTP endpoint standing in for our app: records requests, answers with `status`.
pub struct Receiver {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub status: Arc<AtomicU16>,
    /// Milliseconds to wait before answering, to make the sender time out.
    pub delay_ms: Arc<AtomicU64>,
}

impl Receiver {
    pub async fn start() -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (s2, st2, d2) = (seen.clone(), status.clone(), delay_ms.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            let (s, st, d) = (s2.clone(), st2.clone(), d2.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (s, st, d) = (s.clone(), st.clone(), d.clone());
                async move {
                    s.lock().unwrap().push(Seen {
                        method: req.method().to_string(),
                        path: req.path().to_owned(),
                        authorization: req
                            .headers()
                            .get("authorization")
                            .map(|h| h.to_str().unwrap().to_owned()),
                        headers: req
                            .headers()
                            .iter()
                            .map(|(n, v)| {
                                (
                                    n.as_str().to_owned(),
                                    v.to_str().unwrap_or_default().to_owned(),
                                )
                            })
                            .collect(),
                        raw: body.to_vec(),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        at: std::time::Instant::now(),
                    });
                    let delay = d.load(Ordering::Relaxed);
                    if delay > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                    }
                    let code =
                        actix_web::http::StatusCode::from_u16(st.load(Ordering::Relaxed)).unwrap();
                    HttpResponse::build(code).finish()
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            url,
            seen,
            status,
            delay_ms,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (up to `secs`).
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Seen> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let seen = self.seen();
            if seen.len() >= n || std::time::Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

pub fn company(domain: &str, plan: Plan) -> CompanySpec {
    CompanySpec {
        name: format!("{domain} Ltd"),
        domain: domain.into(),
        plan,
        seats: 1,
        daily_budget: None,
        burst_limit: None,
        users: vec![
            UserSpec {
                name: "Ada Admin".into(),
                email: format!("ada@{domain}.test"),
                is_admin: true,
            },
            UserSpec {
                name: "Bob Seller".into(),
                email: format!("bob@{domain}.test"),
                is_admin: false,
            },
        ],
    }
}

pub fn config(callback: &str) -> SandboxConfig {
    SandboxConfig {
        seed: 7,
        expires_in: 60,
        time_scale: 0.01,
        workers: 1,
        apps: vec![AppSpec {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            callback_url: format!("{callback}/oauth/callback"),
            scopes: vec!["deals:full".into(), "contacts:full".into(), "admin".into()],
        }],
        companies: vec![company("acme", Plan::Lite)],
        ..SandboxConfig::default()
    }
}

pub struct Env {
    pub sandbox: SandboxHandle,
    pub receiver: Receiver,
    pub http: reqwest::Client,
    pub company_id: u64,
    pub user_id: u64,
    pub token: TokenGrant,
}

/// A sandbox with the test app and company "acme", and a full-scope token for its first user.
pub async fn env() -> Env {
    env_with(|_| {}).await
}

pub async fn env_with(tweak: impl FnOnce(&mut SandboxConfig)) -> Env {
    let receiver = Receiver::start().await;
    let mut cfg = config(&receiver.url);
    tweak(&mut cfg);
    let sandbox = dealbridge_sandbox::spawn(cfg).await.unwrap();
    let company = sandbox.control().companies()[0].clone();
    let token = sandbox
        .control()
        .mint_token(company.id, None, vec![])
        .unwrap();
    Env {
        company_id: company.id,
        user_id: company.user_ids[0],
        sandbox,
        receiver,
        http: reqwest::Client::new(),
        token,
    }
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.token.api_domain)
    }

    /// Calls the company's API with the env token; returns status and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        self.call_as(&self.token.access_token, method, path, body)
            .await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body, headers)
    }
}
