//! What `order.created` and `order.updated` share: the buyer's Person and Organization, and the
//! order's Deal with value, currency and the app's custom fields.

use std::collections::BTreeMap;

use dealbridge_core::event::EventSource;
use dealbridge_core::fields::FieldPurpose;
use dealbridge_core::workflow_settings::render_title;
use dealbridge_events::records::Order;
use dealbridge_pipedrive::models::{CustomFields, NewDeal};
use serde_json::Value;

use super::context::Flow;
use super::error::{FlowError, FlowResult};
use super::find::{order_deal, org_key, organization, person, PersonDetails};
use super::placement::new_deal_fields;

/// The order's deal, found or created with its buyer; true when this call created it.
pub(crate) async fn deal_of(flow: &mut Flow<'_>, order: &Order) -> FlowResult<(u64, bool)> {
    let customer = order.customer.as_ref();
    let email = customer.and_then(|c| c.email.as_deref());
    let company = customer.and_then(|c| c.company.as_deref());
    let org_id = match org_key(email, company) {
        Some(key) => Some(organization(flow, &key).await?),
        None => None,
    };
    let person_id = match (email, customer) {
        (Some(email), Some(customer)) => {
            let details = PersonDetails {
                name: full_name(
                    customer.first_name.as_deref(),
                    customer.last_name.as_deref(),
                ),
                phone: customer.phone.clone(),
                org_id,
                link_found: true,
            };
            Some(person(flow, email, details).await?)
        }
        _ => None,
    };
    let mut fields = new_deal_fields(flow).await?;
    fields.person_id = person_id;
    fields.org_id = org_id;
    fields.value = Some(amount(&order.total)?);
    fields.currency = Some(order.currency.clone());
    fields.custom_fields = order_fields(flow, order)?;
    let title = render_title(&flow.settings.order_deal_title, &title_values(flow, order));
    let new = NewDeal { title, fields };
    order_deal(flow, &order.id, new).await
}

/// The custom fields an order's deal carries: its id, status and source.
pub(crate) fn order_fields(flow: &Flow<'_>, order: &Order) -> FlowResult<CustomFields> {
    let mut fields = CustomFields::new();
    fields.insert(
        flow.field(FieldPurpose::DealOrderId)?.to_owned(),
        Value::String(order.id.clone()),
    );
    fields.insert(
        flow.field(FieldPurpose::DealOrderStatus)?.to_owned(),
        Value::String(order.status.clone()),
    );
    fields.insert(
        flow.field(FieldPurpose::DealOrderSource)?.to_owned(),
        Value::String(source_label(flow.event.source, order.store.as_deref())),
    );
    Ok(fields)
}

/// `shopify: norman.myshopify.com`, or just the source without a store.
fn source_label(source: EventSource, store: Option<&str>) -> String {
    match store {
        Some(store) => format!("{}: {store}", source.as_str()),
        None => source.as_str().to_owned(),
    }
}

fn title_values(flow: &Flow<'_>, order: &Order) -> BTreeMap<&'static str, String> {
    let customer = order.customer.as_ref();
    let name = customer
        .and_then(|c| full_name(c.first_name.as_deref(), c.last_name.as_deref()))
        .or_else(|| customer.and_then(|c| c.email.clone()))
        .unwrap_or_default();
    BTreeMap::from([
        (
            "order",
            order.number.clone().unwrap_or_else(|| order.id.clone()),
        ),
        (
            "store",
            order
                .store
                .clone()
                .unwrap_or_else(|| flow.event.source.as_str().to_owned()),
        ),
        ("customer", name),
        ("total", order.total.clone()),
        ("currency", order.currency.clone()),
    ])
}

pub(crate) fn full_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let name = [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
}

/// Decimal text as Pipedrive's number (the receivers checked the format).
fn amount(text: &str) -> FlowResult<f64> {
    text.trim()
        .parse()
        .map_err(|_| FlowError::Refused("the order's total is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_join_what_is_there() {
        assert_eq!(
            full_name(Some("Ada"), Some(" Lovelace")).as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(
            full_name(None, Some("Lovelace")).as_deref(),
            Some("Lovelace")
        );
        assert_eq!(full_name(Some(" "), None), None);
    }

    #[test]
    fn the_source_names_the_store_when_there_is_one() {
        assert_eq!(
            source_label(EventSource::Shopify, Some("a.myshopify.com")),
            "shopify: a.myshopify.com"
        );
        assert_eq!(source_label(EventSource::EventApi, None), "event_api");
    }
}
