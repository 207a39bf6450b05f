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
        for page in ["landing.html", "error.html", "install_result.html"] {
            let html = templates.render(page, &context).unwrap();
            assert!(html.contains("<html"), "{page} renders a document");
        }
        // The dashboard's `status` is the installation's, a string.
        context.insert("status", "needs_reauth");
        let dashboard = templates.render("dashboard.html", &context).unwrap();
        assert!(dashboard.contains("reconnect"), "the reauth banner shows");
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
