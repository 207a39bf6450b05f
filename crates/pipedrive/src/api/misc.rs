//! users and activity types, notes and webhooks (v1), fields, pipelines and stages (v2).

use serde_json::Value;

use super::{json_body, request};
use crate::client::CompanyClient;
use crate::costs::Operation;
use crate::error::Result;
use crate::models::*;

const NOTES: &str = "/api/v1/notes";
const NOTE: &str = "/api/v1/notes/{id}";
const WEBHOOKS: &str = "/api/v1/webhooks";
const WEBHOOK: &str = "/api/v1/webhooks/{id}";
const PIPELINES: &str = "/api/v2/pipelines";
const PIPELINE: &str = "/api/v2/pipelines/{id}";
const STAGES: &str = "/api/v2/stages";
const STAGE: &str = "/api/v2/stages/{id}";
const USERS: &str = "/api/v1/users";
const USER: &str = "/api/v1/users/{id}";
const ACTIVITY_TYPES: &str = "/api/v1/activityTypes";

const ALL_FIELD_ENTITIES: [FieldEntity; 5] = [
    FieldEntity::Deal,
    FieldEntity::Person,
    FieldEntity::Organization,
    FieldEntity::Product,
    FieldEntity::Activity,
];

pub(super) fn operations() -> Vec<Operation> {
    let mut ops = vec![
        Operation::new("GET", NOTES),
        Operation::new("POST", NOTES),
        Operation::new("GET", NOTE),
        Operation::new("PUT", NOTE),
        Operation::new("DELETE", NOTE),
        Operation::new("GET", WEBHOOKS),
        Operation::new("POST", WEBHOOKS),
        Operation::new("DELETE", WEBHOOK),
        Operation::new("GET", PIPELINES),
        Operation::new("GET", PIPELINE),
        Operation::new("GET", STAGES),
        Operation::new("GET", STAGE),
        Operation::new("GET", USERS),
        Operation::new("GET", USER),
        Operation::new("GET", ACTIVITY_TYPES),
    ];
    for entity in ALL_FIELD_ENTITIES {
        let (collection, item) = field_paths(entity);
        ops.push(Operation::new("GET", collection));
        ops.push(Operation::new("GET", item));
        if entity != FieldEntity::Activity {
            ops.push(Operation::new("POST", collection));
            ops.push(Operation::new("DELETE", item));
        }
    }
    ops
}

/// `GET /v1/users/me`, `GET /v1/users` and `GET /v1/users/{id}` (v1 only).
#[derive(Clone)]
pub struct Users(pub(super) CompanyClient);

impl Users {
    pub(super) const ME: Operation = Operation::new("GET", "/api/v1/users/me");

    /// The installing user and their company.
    pub async fn me(&self) -> Result<User> {
        Ok(self.0.call(request(Self::ME, None)).await?.data)
    }

    /// Every user of the company, deactivated ones included (one page: Pipedrive does not
    /// paginate this list). Needs the `users:read` scope.
    pub async fn list(&self) -> Result<Vec<CompanyUser>> {
        let req = request(Operation::new("GET", USERS), None);
        Ok(self
            .0
            .call::<Option<Vec<CompanyUser>>>(req)
            .await?
            .data
            .unwrap_or_default())
    }

    /// One user of the company by id (2 tokens, against 20 for the whole list): the name of
    /// whoever installed, say. Needs the `users:read` scope; an id outside the company is
    /// [`crate::Error::NotFound`].
    pub async fn get(&self, id: u64) -> Result<CompanyUser> {
        let req = request(Operation::new("GET", USER), Some(&id.to_string()));
        Ok(self.0.call(req).await?.data)
    }
}

/// Activity types (v1 only): what a follow-up activity can be (`call`, `meeting`, ...).
#[derive(Clone)]
pub struct ActivityTypes(pub(super) CompanyClient);

impl ActivityTypes {
    /// Every activity type of the company, inactive ones included (one page).
    pub async fn list(&self) -> Result<Vec<ActivityType>> {
        let req = request(Operation::new("GET", ACTIVITY_TYPES), None);
        Ok(self
            .0
            .call::<Option<Vec<ActivityType>>>(req)
            .await?
            .data
            .unwrap_or_default())
    }
}

/// Notes (v1 only; offset pagination, `PUT` for updates).
#[derive(Clone)]
pub struct Notes(pub(super) CompanyClient);

impl Notes {
    pub async fn list(&self, query: NoteQuery) -> Result<OffsetPage<Note>> {
        let mut req = request(Operation::new("GET", NOTES), None);
        let pairs = [
            ("deal_id", query.deal_id),
            ("person_id", query.person_id),
            ("org_id", query.org_id),
            ("start", query.start),
            ("limit", query.limit.map(u64::from)),
        ];
        req.query = pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v.to_string())))
            .collect();
        // v1 lists answer `data: null` when empty.
        let envelope = self.0.call::<Option<Vec<Note>>>(req).await?;
        let pagination = envelope.additional_data.and_then(|a| a.pagination);
        Ok(OffsetPage {
            items: envelope.data.unwrap_or_default(),
            next_start: pagination
                .filter(|p| p.more_items_in_collection)
                .and_then(|p| p.next_start),
        })
    }

    pub async fn get(&self, id: u64) -> Result<Note> {
        let req = request(Operation::new("GET", NOTE), Some(&id.to_string()));
        Ok(self.0.call(req).await?.data)
    }

    pub async fn create(&self, note: &NoteInput) -> Result<Note> {
        let mut req = request(Operation::new("POST", NOTES), None);
        req.body = Some(json_body(note)?);
        Ok(self.0.call(req).await?.data)
    }

    pub async fn update(&self, id: u64, note: &NoteInput) -> Result<Note> {
        let mut req = request(Operation::new("PUT", NOTE), Some(&id.to_string()));
        req.body = Some(json_body(note)?);
        Ok(self.0.call(req).await?.data)
    }

    pub async fn delete(&self, id: u64) -> Result<()> {
        let req = request(Operation::new("DELETE", NOTE), Some(&id.to_string()));
        self.0.call::<Option<Value>>(req).await.map(drop)
    }
}

/// Webhooks (v1 only). Pipedrive lists only the webhooks this app created.
#[derive(Clone)]
pub struct Webhooks(pub(super) CompanyClient);

impl Webhooks {
    pub async fn list(&self) -> Result<Vec<Webhook>> {
        let req = request(Operation::new("GET", WEBHOOKS), None);
        Ok(self
            .0
            .call::<Option<Vec<Webhook>>>(req)
            .await?
            .data
            .unwrap_or_default())
    }

    pub async fn create(&self, webhook: &NewWebhook) -> Result<Webhook> {
        let mut req = request(Operation::new("POST", WEBHOOKS), None);
        req.body = Some(json_body(webhook)?);
        Ok(self.0.call(req).await?.data)
    }

    pub async fn delete(&self, id: u64) -> Result<()> {
        let req = request(Operation::new("DELETE", WEBHOOK), Some(&id.to_string()));
        self.0.call::<Option<Value>>(req).await.map(drop)
    }
}

fn field_paths(entity: FieldEntity) -> (&'static str, &'static str) {
    match entity {
        FieldEntity::Deal => ("/api/v2/dealFields", "/api/v2/dealFields/{field_code}"),
        FieldEntity::Person => ("/api/v2/personFields", "/api/v2/personFields/{field_code}"),
        FieldEntity::Organization => (
            "/api/v2/organizationFields",
            "/api/v2/organizationFields/{field_code}",
        ),
        FieldEntity::Product => (
            "/api/v2/productFields",
            "/api/v2/productFields/{field_code}",
        ),
        FieldEntity::Activity => (
            "/api/v2/activityFields",
            "/api/v2/activityFields/{field_code}",
        ),
    }
}

/// Field definitions of one entity (v2), including custom fields' codes.
#[derive(Clone)]
pub struct Fields {
    client: CompanyClient,
    collection: &'static str,
    item: &'static str,
}

impl Fields {
    pub(super) fn new(client: CompanyClient, entity: FieldEntity) -> Self {
        let (collection, item) = field_paths(entity);
        Self {
            client,
            collection,
            item,
        }
    }

    pub async fn list(&self, query: ListQuery) -> Result<CursorPage<Field>> {
        let mut req = request(Operation::new("GET", self.collection), None);
        req.query = query.into_pairs();
        let envelope = self.client.call::<Vec<Field>>(req).await?;
        Ok(CursorPage {
            items: envelope.data,
            next_cursor: envelope.additional_data.and_then(|a| a.next_cursor),
        })
    }

    pub async fn get(&self, field_code: &str) -> Result<Field> {
        let req = request(Operation::new("GET", self.item), Some(field_code));
        Ok(self.client.call(req).await?.data)
    }

    /// Not available for activity fields (the call fails with [`crate::Error::UnknownOperation`]).
    pub async fn create(&self, field: &NewField) -> Result<Field> {
        let mut req = request(Operation::new("POST", self.collection), None);
        req.body = Some(json_body(field)?);
        Ok(self.client.call(req).await?.data)
    }

    pub async fn delete(&self, field_code: &str) -> Result<()> {
        let req = request(Operation::new("DELETE", self.item), Some(field_code));
        self.client.call::<Option<Value>>(req).await.map(drop)
    }
}

/// Pipelines (v2).
#[derive(Clone)]
pub struct Pipelines(pub(super) CompanyClient);

impl Pipelines {
    pub async fn list(&self, query: ListQuery) -> Result<CursorPage<Pipeline>> {
        let mut req = request(Operation::new("GET", PIPELINES), None);
        req.query = query.into_pairs();
        let envelope = self.0.call::<Vec<Pipeline>>(req).await?;
        Ok(CursorPage {
            items: envelope.data,
            next_cursor: envelope.additional_data.and_then(|a| a.next_cursor),
        })
    }

    pub async fn get(&self, id: u64) -> Result<Pipeline> {
        let req = request(Operation::new("GET", PIPELINE), Some(&id.to_string()));
        Ok(self.0.call(req).await?.data)
    }
}

/// Stages (v2); filter a list by pipeline with `ListQuery::filter("pipeline_id", id)`.
#[derive(Clone)]
pub struct Stages(pub(super) CompanyClient);

impl Stages {
    pub async fn list(&self, query: ListQuery) -> Result<CursorPage<Stage>> {
        let mut req = request(Operation::new("GET", STAGES), None);
        req.query = query.into_pairs();
        let envelope = self.0.call::<Vec<Stage>>(req).await?;
        Ok(CursorPage {
            items: envelope.data,
            next_cursor: envelope.additional_data.and_then(|a| a.next_cursor),
        })
    }

    pub async fn get(&self, id: u64) -> Result<Stage> {
        let req = request(Operation::new("GET", STAGE), Some(&id.to_string()));
        Ok(self.0.call(req).await?.data)
    }
}
