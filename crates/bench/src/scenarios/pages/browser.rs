//! A browser for the page scenario: one person's cookies, redirects not followed (each hop is
//! checked), and requests sent as a browser sends them (`Accept-Encoding: gzip`, so the app's
//! compression is part of what is timed). Cookies are kept by hand: the app sets one session
//! cookie, and reqwest's cookie store would need a feature the rest of the bench does not use.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::header::{HeaderMap, ACCEPT_ENCODING, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

pub struct Browser {
    client: reqwest::Client,
    address: String,
    cookies: Mutex<BTreeMap<String, String>>,
}

/// An answer: its status, where it points, its (decoded only when asked for plainly) body.
pub struct Answer {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Browser {
    pub fn new(address: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            address: address.trim_end_matches('/').to_owned(),
            cookies: Mutex::default(),
        })
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.address)
        }
    }

    fn cookie_header(&self) -> Option<String> {
        let cookies = self.cookies.lock().unwrap_or_else(|e| e.into_inner());
        (!cookies.is_empty()).then(|| {
            cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn keep(&self, headers: &HeaderMap) {
        let mut cookies = self.cookies.lock().unwrap_or_else(|e| e.into_inner());
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let mut parts = text.split(';').map(str::trim);
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let removed = value.is_empty() || parts.any(|p| p.eq_ignore_ascii_case("max-age=0"));
            if removed {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        compressed: bool,
    ) -> anyhow::Result<Answer> {
        let mut request = request;
        if let Some(cookie) = self.cookie_header() {
            request = request.header(COOKIE, cookie);
        }
        if compressed {
            request = request.header(ACCEPT_ENCODING, "gzip");
        }
        let response = request.send().await?;
        self.keep(response.headers());
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let body = if compressed {
            // Read to the end, as a browser does, but not decoded: the timing is what counts.
            response.bytes().await?;
            String::new()
        } else {
            response.text().await?
        };
        Ok(Answer {
            status,
            location,
            body,
        })
    }

    /// A plain GET whose body is read as text (for checks).
    pub async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        self.send(self.client.get(self.url(path)), false).await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Answer> {
        self.send(self.client.post(self.url(path)).form(form), false)
            .await
    }

    /// A GET as a browser loads a page (gzip accepted); fails unless it answers 200. Returns the
    /// time from sending to the last byte of the body.
    pub async fn time_page(&self, path: &str) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let answer = self
            .send(self.client.get(self.url(path)), true)
            .await
            .with_context(|| format!("GET {path}"))?;
        let took = started.elapsed();
        anyhow::ensure!(
            answer.status == StatusCode::OK,
            "GET {path} answered {}",
            answer.status
        );
        Ok(took)
    }
}

/// The value of the first `name="csrf"` field of a form on `html`.
pub fn csrf_in(html: &str) -> anyhow::Result<String> {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
        .context("the page has no CSRF field")
}
