//! One Tera instance, built at start-up from the embedded templates. Autoescaping stays on for
//! `.html` (Tera's default), so values from Pipedrive or users cannot inject markup.

use std::sync::Arc;

use tera::{Context, Tera};

use crate::assets::TemplateFiles;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {name} is not UTF-8")]
    NotUtf8 { name: String },
    /// Tera's own message names the template, line and column.
    #[error("{0}")]
    Tera(String),
}

#[derive(Clone)]
pub struct Templates {
    tera: Arc<Tera>,
    reload: bool,
}

impl Templates {
    /// Parses every template; the first error stops start-up.
    pub fn load(reload: bool) -> Result<Self, TemplateError> {
        Ok(Self {
            tera: Arc::new(build()?),
            reload,
        })
    }

    pub fn render(&self, name: &str, context: &Context) -> Result<String, TemplateError> {
        if self.reload {
            return build()?.render(name, context).map_err(describe);
        }
        self.tera.render(name, context).map_err(describe)
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tera.get_template_names().map(str::to_owned).collect();
        names.sort();
        names
    }
}

fn build() -> Result<Tera, TemplateError> {
    let mut sources = Vec::new();
    for name in TemplateFiles::iter() {
        let file = TemplateFiles::get(&name).ok_or_else(|| TemplateError::NotUtf8 {
            name: name.to_string(),
        })?;
        let text =
            String::from_utf8(file.data.into_owned()).map_err(|_| TemplateError::NotUtf8 {
                name: name.to_string(),
            })?;
        sources.push((name.to_string(), text));
    }
    let mut tera = Tera::default();
    tera.register_filter("local_time", crate::local_time::LocalTime);
    tera.add_raw_templates(sources).map_err(describe)?;
    Ok(tera)
}

/// Tera keeps the useful part (file, line, expected token) in the error's sources.
fn describe(err: tera::Error) -> TemplateError {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    TemplateError::Tera(message.replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_renders() {
        let templates = Templates::load(false).unwrap();
        assert!(templates.names().contains(&"landing.html".to_string()));
        let mut context = Context::new();
        context.insert("status", &404);
        context.insert("message", "Page not found");
        context.insert("request_id", "r-1");
        context.insert("title", "Installed");
        context.insert("retry", &true);
        context.insert(
            "tenant",
            &serde_json::json!({"company_name": "Acme", "company_domain": "acme"}),
        );
        context.insert("needs_reauth", &true);
        context.insert("scopes", &vec!["base"]);
        context.insert("api_domain", "https://acme.pipedrive.com");
        context.insert("user_id", &1);
        context.insert("activity", &Vec::<serde_json::Value>::new());
        context.insert("csrf", "token");
        context.insert("webhooks", &None::<serde_json::Value>);
        context.insert("event_sources", &Vec::<serde_json::Value>::new());
        for page in ["landing.html", "error.html", "install_result.html"] {
            let html = templates.render(page, &context).unwrap();
            assert!(html.contains("<html"), "{page} renders a document");
        }
        // The dashboard's `status` is the installation's, a string.
        context.insert("status", "needs_reauth");
        context.insert("paused", &false);
        let dashboard = templates.render("dashboard.html", &context).unwrap();
        assert!(dashboard.contains("reconnect"), "the reauth banner shows");
    }

    fn health(context: &mut Context) {
        context.insert(
            "counts",
            &serde_json::json!({"queued": "3", "running": "1", "dead": "1", "one_queued": false}),
        );
        context.insert(
            "budget",
            &serde_json::json!({"spent": 120, "daily_limit": 100, "left": 0, "learned": false,
                "resets_at": "2026-11-30 00:00 UTC", "exhausted_until": "2026-11-30 00:00 UTC"}),
        );
        context.insert(
            "figures",
            &serde_json::json!({"calls": 5, "tokens_spent": 120, "rate_limited": 2,
                "waited_seconds": 4, "deferred": 1, "unauthorized": 0}),
        );
        context.insert(
            "dead_jobs",
            &serde_json::json!([{"id": "j-1", "kind": "deal.sync", "lane": "default", "attempts": 3,
                "max_attempts": 3, "last_error": "<b>boom</b>", "failed_at": "today"}]),
        );
        context.insert(
            "fields",
            &serde_json::json!([{"name": "Order status", "entity": "deal",
                "field_code": "c0ffee", "recorded_at": "today"}]),
        );
        context.insert(
            "webhooks",
            &serde_json::json!({"state": "banned", "webhooks": 9,
                "checked_at": "2026-11-30 10:00 UTC", "notice": "Pipedrive reports failed deliveries"}),
        );
        context.insert(
            "event_sources",
            &serde_json::json!([{"source": "pipedrive", "events": [{
                "kind": "pipedrive.deal.change", "entity": "deal:<8>", "state": "stale",
                "occurred_at": "2026-11-30 09:59 UTC", "received_at": "2026-11-30 10:00 UTC",
                "received_ago": "5 min ago", "became": [], "reason": null}]},
                {"source": "event_api", "events": [{
                "kind": "order.created", "entity": "order:A1", "state": "processed",
                "occurred_at": "2026-11-30 09:59 UTC", "received_at": "2026-11-30 10:00 UTC",
                "received_ago": "5 min ago", "reason": null, "became": [
                    {"label": "deal 42", "url": "https://acme.pipedrive.com/deal/42"},
                    {"label": "note 7", "url": null}]},
                {"kind": "signup", "entity": null, "state": "failed",
                "occurred_at": "2026-11-30 09:59 UTC", "received_at": "2026-11-30 10:00 UTC",
                "received_ago": "5 min ago", "became": [],
                "reason": "Pipedrive refused a write as invalid"}]}]),
        );
    }

    #[test]
    fn the_dashboard_shows_work_budget_and_failed_jobs() {
        let templates = Templates::load(false).unwrap();
        let mut context = Context::new();
        context.insert("tenant", &serde_json::json!({"company_name": "Acme"}));
        context.insert("status", "needs_reauth");
        context.insert("needs_reauth", &true);
        context.insert("scopes", &vec!["base"]);
        context.insert("api_domain", "https://acme.pipedrive.com");
        context.insert("user_id", &1);
        context.insert("activity", &Vec::<serde_json::Value>::new());
        context.insert("csrf", "token");
        context.insert("retry_base", "/dashboard/jobs");
        context.insert("paused", &true);
        health(&mut context);
        let html = templates.render("dashboard.html", &context).unwrap();
        assert!(html.contains("support has paused this company"), "{html}");
        assert!(
            html.contains("3 jobs are waiting until you reconnect"),
            "{html}"
        );
        assert!(
            html.contains(
                "work resumes at <time datetime=\"2026-11-30T00:00:00Z\">2026-11-30 00:00 UTC</time>"
            ),
            "{html}"
        );
        assert!(
            html.contains(r#"action="/dashboard/jobs/j-1/retry""#),
            "{html}"
        );
        assert!(html.contains("&lt;b&gt;boom"), "errors are escaped: {html}");
        assert!(html.contains("<code>c0ffee</code>"), "{html}");
        assert!(
            html.contains("Pipedrive reports failed deliveries"),
            "{html}"
        );
        assert!(html.contains("9 registered"), "{html}");
        assert!(html.contains("From pipedrive"), "{html}");
        assert!(
            html.contains(r#"<span class="pill stale">stale</span>"#),
            "{html}"
        );
        assert!(
            html.contains("<code>deal:&lt;8&gt;</code>"),
            "escaped: {html}"
        );
        assert!(html.contains("5 min ago"), "{html}");
        assert!(
            html.contains(r#"<a href="https:&#x2F;&#x2F;acme.pipedrive.com&#x2F;deal&#x2F;42" target="_blank" rel="noopener">deal 42</a>, note 7"#),
            "what an event became links to the records: {html}"
        );
        assert!(
            html.contains(r#"<span class="reason">Pipedrive refused a write as invalid</span>"#),
            "{html}"
        );
    }

    #[test]
    fn console_pages_render() {
        let templates = Templates::load(false).unwrap();
        let mut context = Context::new();
        context.insert("staff_email", "ada@dealbridge.test");
        context.insert("staff_role", "operator");
        context.insert("read_only", &false);
        context.insert("csrf", "token");
        context.insert("message", "Wrong email or password.");
        context.insert("email", "ada@dealbridge.test");
        context.insert("no_account", &false);
        context.insert("password_file", "/data/console-password");
        let login = templates.render("console/login.html", &context).unwrap();
        assert!(login.contains("Wrong email or password."), "{login}");
        assert!(login.contains("console-password"), "{login}");

        health(&mut context);
        context.insert("q", "acme co");
        context.insert("q_encoded", "acme+co");
        context.insert("state", "paused");
        context.insert(
            "state_filters",
            &serde_json::json!([{"value": "active", "label": "Active", "current": false},
                {"value": "paused", "label": "Paused", "current": true}]),
        );
        context.insert("next_after", &42);
        context.insert(
            "tenants",
            &serde_json::json!([{"id": "t-1", "company_id": 7, "company_name": "Acme",
                "company_domain": "acme", "status": "active", "active_installations": 1,
                "needs_reauth_installations": 1, "queued": "1,000+", "running": "0",
                "dead": "2", "has_dead": true, "errors_24h": "3", "has_errors": true,
                "budget": {"spent": "7,500", "daily_limit": "30,000", "percent": 25,
                    "exhausted_until": "soon"}}]),
        );
        let list = templates.render("console/tenants.html", &context).unwrap();
        assert!(list.contains(r#"href="/console/tenants/t-1""#), "{list}");
        assert!(list.contains("paused until soon"), "{list}");
        assert!(list.contains("1,000+ queued"), "{list}");
        assert!(list.contains("3 failed"), "{list}");
        assert!(list.contains("7,500 / 30,000"), "{list}");
        assert!(list.contains("(25%)"), "{list}");
        assert!(list.contains(r#"aria-current="page">Paused"#), "{list}");
        assert!(
            list.contains("after=42&amp;state=paused&amp;q=acme+co"),
            "the next page keeps the filter and search: {list}"
        );

        context.insert(
            "tenant",
            &serde_json::json!({"id": "t-1", "company_id": 7, "company_name": "Acme",
                "company_domain": "acme", "status": "active"}),
        );
        context.insert(
            "installations",
            &serde_json::json!([{"user_id": 1, "api_domain": "x", "status": "needs_reauth",
                "needs_reauth": true, "updated_at": "u"}]),
        );
        context.insert("needs_reauth", &true);
        context.insert("retry_base", "/console/tenants/t-1/jobs");
        context.insert(
            "timeline",
            &serde_json::json!({"kind": "", "paged": false,
                "older": "audit=7&pipedrive=2026-11-30",
                "filters": [{"value": "audit", "label": "Installs", "current": false}],
                "entries": [
                    {"at": "2026-12-01T10:00:00Z", "day": null, "kind": "Staff", "tone": "",
                     "title": "tenant.paused", "detail": null, "data": "{\"reason\":\"<b>x</b>\"}",
                     "by": "staff:ana@example.com"},
                    {"at": null, "day": "2026-11-30", "kind": "Pipedrive", "tone": "warning",
                     "title": "Pipedrive answered 429 (rate limited) to 3 calls",
                     "detail": "the UTC day's total", "data": null, "by": null}]}),
        );
        context.insert("max_reason", &500);
        context.insert(
            "tenant_actions",
            &serde_json::json!([{"id": "pause", "path": "pause", "label": "Pause its jobs"}]),
        );
        let tenant = templates.render("console/tenant.html", &context).unwrap();
        assert!(
            tenant.contains(r#"action="/console/tenants/t-1/pause""#),
            "{tenant}"
        );
        assert!(
            tenant.contains(r#"name="reason" required maxlength="500""#),
            "{tenant}"
        );
        assert!(!tenant.contains("Paused: this tenant"), "active: {tenant}");
        assert!(
            tenant.contains("jobs wait until a user reconnects"),
            "{tenant}"
        );
        assert!(
            tenant.contains("/console/tenants/t-1/jobs/j-1/retry"),
            "{tenant}"
        );
        assert!(
            tenant.contains(r#"<td data-label="When"><time datetime="2026-12-01T10:00:00Z">"#),
            "timeline times are time elements: {tenant}"
        );
        assert!(
            tenant.contains(r#"<time datetime="2026-11-30">2026-11-30</time> (UTC day)"#),
            "{tenant}"
        );
        assert!(tenant.contains("&lt;b&gt;x&lt;"), "details are escaped");
        assert!(
            tenant.contains("?audit=7&amp;pipedrive=2026-11-30#timeline"),
            "the older link carries the cursors: {tenant}"
        );

        context.insert("retry_base", "/console/jobs");
        let system = templates
            .render("console/dead_jobs.html", &context)
            .unwrap();
        assert!(system.contains("/console/jobs/j-1/retry"), "{system}");
    }

    #[test]
    fn a_broken_template_is_reported_with_its_line() {
        let mut tera = Tera::default();
        let err = tera
            .add_raw_templates(vec![("broken.html", "<p>\n{% if %}</p>")])
            .map(|_| ())
            .map_err(describe)
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("broken.html"), "{text}");
        assert!(text.contains("2:"), "names the line: {text}");
    }
}
