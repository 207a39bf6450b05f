//! A scenario's result: rows for people, then one JSON object for scripts (always the last line).

use serde_json::Value;

pub struct Report {
    scenario: &'static str,
    rows: Vec<(String, String)>,
    /// In insertion order, `scenario` first, so the line reads like the table.
    figures: Vec<(String, Value)>,
}

impl Report {
    pub fn new(scenario: &'static str) -> Self {
        let figures = vec![("scenario".to_string(), Value::from(scenario))];
        Self {
            scenario,
            rows: Vec::new(),
            figures,
        }
    }

    /// A row shown in the table only.
    pub fn row(&mut self, label: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.rows.push((label.into(), value.into()));
        self
    }

    /// A figure that goes into the JSON line (and the table).
    pub fn figure(&mut self, key: &str, value: f64, shown_as: impl Into<String>) -> &mut Self {
        self.rows.push((key.to_string(), shown_as.into()));
        // Two decimals are plenty for rates and ratios and keep the line readable.
        let rounded = (value * 100.0).round() / 100.0;
        self.figures.push((key.into(), Value::from(rounded)));
        self
    }

    pub fn print(&self) {
        let width = self
            .rows
            .iter()
            .map(|(label, _)| label.len())
            .max()
            .unwrap_or(0);
        println!("scenario: {}", self.scenario);
        println!("{}", "-".repeat(width + 24));
        for (label, value) in &self.rows {
            println!("{label:<width$}  {value}");
        }
        println!("{}", "-".repeat(width + 24));
        let fields: Vec<String> = self
            .figures
            .iter()
            .map(|(key, value)| format!("{}:{value}", Value::from(key.as_str())))
            .collect();
        println!("{{{}}}", fields.join(","));
    }
}
