//! Typed calls, one handle per resource, all reached from a [`crate::CompanyClient`].

mod entities;
mod misc;

pub use entities::{Activities, Deals, Entities, Organizations, Persons, Searchable, V2Entity};
pub use misc::{ActivityTypes, Fields, Notes, Pipelines, Stages, Users, Webhooks};

use serde::Serialize;

use crate::client::{ApiRequest, CompanyClient};
use crate::costs::Operation;
use crate::error::{Error, Result};
use crate::models::FieldEntity;

impl CompanyClient {
    pub fn users(&self) -> Users {
        Users(self.clone())
    }
    pub fn deals(&self) -> Entities<Deals> {
        Entities::new(self.clone())
    }
    pub fn persons(&self) -> Entities<Persons> {
        Entities::new(self.clone())
    }
    pub fn organizations(&self) -> Entities<Organizations> {
        Entities::new(self.clone())
    }
    pub fn activities(&self) -> Entities<Activities> {
        Entities::new(self.clone())
    }
    pub fn notes(&self) -> Notes {
        Notes(self.clone())
    }
    pub fn fields(&self, entity: FieldEntity) -> Fields {
        Fields::new(self.clone(), entity)
    }
    pub fn pipelines(&self) -> Pipelines {
        Pipelines(self.clone())
    }
    pub fn stages(&self) -> Stages {
        Stages(self.clone())
    }
    pub fn webhooks(&self) -> Webhooks {
        Webhooks(self.clone())
    }
    pub fn activity_types(&self) -> ActivityTypes {
        ActivityTypes(self.clone())
    }

    /// Any operation of the cost table, for endpoints without a typed call yet: `param` fills
    /// the path's one `{…}` placeholder, and the envelope's `data` comes back as JSON. Budget,
    /// retries and classification are the same as for typed calls.
    pub async fn raw(
        &self,
        op: Operation,
        param: Option<&str>,
        query: Vec<(&'static str, String)>,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let mut req = request(op, param);
        req.query = query;
        req.body = body;
        Ok(self
            .call::<Option<serde_json::Value>>(req)
            .await?
            .data
            .unwrap_or_default())
    }
}

/// Every operation the typed calls use; a test checks each has a cost in the table.
pub fn operations() -> Vec<Operation> {
    let mut ops = vec![Users::ME];
    ops.extend(entities::operations());
    ops.extend(misc::operations());
    ops
}

/// A request for `op` with its one path parameter (if any) filled in.
pub(crate) fn request(op: Operation, param: Option<&str>) -> ApiRequest {
    let path = match param {
        Some(value) => fill(op.path, value),
        None => op.path.to_owned(),
    };
    ApiRequest {
        op,
        path,
        query: Vec::new(),
        body: None,
    }
}

/// Replace the `{…}` placeholder; the value is percent-encoded so a field code cannot change
/// the path.
fn fill(template: &str, value: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    match (template.find('{'), template.find('}')) {
        (Some(open), Some(close)) if open < close => {
            format!("{}{}{}", &template[..open], encoded, &template[close + 1..])
        }
        _ => template.to_owned(),
    }
}

pub(crate) fn json_body<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::Decode(format!("request body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_and_encodes_the_placeholder() {
        assert_eq!(fill("/api/v2/deals/{id}", "42"), "/api/v2/deals/42");
        assert_eq!(
            fill("/api/v2/dealFields/{field_code}", "a/b"),
            "/api/v2/dealFields/a%2Fb"
        );
        assert_eq!(fill("/api/v2/deals", "42"), "/api/v2/deals");
    }

    #[test]
    fn every_operation_the_client_uses_has_a_cost() {
        let ops = operations();
        assert!(ops.len() > 40, "all typed calls listed ({})", ops.len());
        for op in ops {
            assert!(
                op.cost().is_some(),
                "{} {} missing from the cost table",
                op.method,
                op.path
            );
        }
    }
}
