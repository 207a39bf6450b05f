//! The four v2 entities share one shape: get, cursor list, create, PATCH, delete, and (except
//! activities) search.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{json_body, request};
use crate::client::CompanyClient;
use crate::costs::Operation;
use crate::error::Result;
use crate::models::*;

/// A v2 entity: its paths and models.
pub trait V2Entity {
    /// Collection path, e.g. `/api/v2/deals`.
    const COLLECTION: &'static str;
    /// Item path, e.g. `/api/v2/deals/{id}`.
    const ITEM: &'static str;
    type Item: DeserializeOwned;
    type New: Serialize + Sync;
    type Patch: Serialize + Sync;
}

/// A v2 entity with `GET …/search`.
pub trait Searchable: V2Entity {
    const SEARCH: &'static str;
}

macro_rules! entity {
    ($name:ident, $collection:literal, $item:ty, $new:ty, $patch:ty) => {
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl V2Entity for $name {
            const COLLECTION: &'static str = concat!("/api/v2/", $collection);
            const ITEM: &'static str = concat!("/api/v2/", $collection, "/{id}");
            type Item = $item;
            type New = $new;
            type Patch = $patch;
        }
    };
}

entity!(Deals, "deals", Deal, NewDeal, DealPatch);
entity!(Persons, "persons", Person, PersonInput, PersonInput);
entity!(
    Organizations,
    "organizations",
    Organization,
    OrganizationInput,
    OrganizationInput
);
entity!(
    Activities,
    "activities",
    Activity,
    ActivityInput,
    ActivityInput
);

impl Searchable for Deals {
    const SEARCH: &'static str = "/api/v2/deals/search";
}
impl Searchable for Persons {
    const SEARCH: &'static str = "/api/v2/persons/search";
}
impl Searchable for Organizations {
    const SEARCH: &'static str = "/api/v2/organizations/search";
}

fn entity_ops<E: V2Entity>() -> [Operation; 5] {
    [
        Operation::new("GET", E::COLLECTION),
        Operation::new("POST", E::COLLECTION),
        Operation::new("GET", E::ITEM),
        Operation::new("PATCH", E::ITEM),
        Operation::new("DELETE", E::ITEM),
    ]
}

pub(super) fn operations() -> Vec<Operation> {
    let mut ops = Vec::new();
    ops.extend(entity_ops::<Deals>());
    ops.extend(entity_ops::<Persons>());
    ops.extend(entity_ops::<Organizations>());
    ops.extend(entity_ops::<Activities>());
    for search in [Deals::SEARCH, Persons::SEARCH, Organizations::SEARCH] {
        ops.push(Operation::new("GET", search));
    }
    ops
}

/// Calls on one v2 entity of one company.
#[derive(Clone)]
pub struct Entities<E> {
    client: CompanyClient,
    entity: PhantomData<fn() -> E>,
}

impl<E: V2Entity> Entities<E> {
    pub(super) fn new(client: CompanyClient) -> Self {
        Self {
            client,
            entity: PhantomData,
        }
    }

    pub async fn get(&self, id: u64) -> Result<E::Item> {
        let req = request(Operation::new("GET", E::ITEM), Some(&id.to_string()));
        Ok(self.client.call(req).await?.data)
    }

    /// One page; pass `next_cursor` back in [`ListQuery::cursor`] for the next.
    pub async fn list(&self, query: ListQuery) -> Result<CursorPage<E::Item>> {
        let mut req = request(Operation::new("GET", E::COLLECTION), None);
        req.query = query.into_pairs();
        let envelope = self.client.call::<Vec<E::Item>>(req).await?;
        Ok(CursorPage {
            items: envelope.data,
            next_cursor: envelope.additional_data.and_then(|a| a.next_cursor),
        })
    }

    pub async fn create(&self, new: &E::New) -> Result<E::Item> {
        let mut req = request(Operation::new("POST", E::COLLECTION), None);
        req.body = Some(json_body(new)?);
        Ok(self.client.call(req).await?.data)
    }

    /// `PATCH`: only the fields set in `patch` change.
    pub async fn update(&self, id: u64, patch: &E::Patch) -> Result<E::Item> {
        let mut req = request(Operation::new("PATCH", E::ITEM), Some(&id.to_string()));
        req.body = Some(json_body(patch)?);
        Ok(self.client.call(req).await?.data)
    }

    /// Returns the deleted id.
    pub async fn delete(&self, id: u64) -> Result<u64> {
        let req = request(Operation::new("DELETE", E::ITEM), Some(&id.to_string()));
        Ok(self.client.call::<Deleted>(req).await?.data.id)
    }
}

impl<E: Searchable> Entities<E> {
    /// `GET …/search`. Counts against the search limit as well as the budget.
    pub async fn search(&self, query: SearchQuery) -> Result<CursorPage<SearchHit<SearchItem>>> {
        let mut req = request(Operation::new("GET", E::SEARCH), None);
        req.query = query.into_pairs();
        let envelope = self.client.call::<SearchData<SearchItem>>(req).await?;
        Ok(CursorPage {
            items: envelope.data.items,
            next_cursor: envelope.additional_data.and_then(|a| a.next_cursor),
        })
    }
}

impl Entities<Persons> {
    /// The persons whose email is exactly `email` (the usual de-duplication lookup).
    pub async fn find_by_email(&self, email: &str) -> Result<Vec<SearchHit<SearchItem>>> {
        let query = SearchQuery::new(email).fields(["email"]).exact(true);
        Ok(self.search(query).await?.items)
    }
}
