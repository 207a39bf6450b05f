//! `order.updated`: the order's Deal gets the new order status, and its stage or won/lost as the
//! tenant's `order_status_targets` say. An update that arrives before its order's creation
//! creates the deal (with the buyer) first, so the order is never lost.

use dealbridge_core::fields::FieldPurpose;
use dealbridge_core::workflow_settings::StatusTarget;
use dealbridge_events::records::Order;
use dealbridge_pipedrive::models::{CustomFields, DealPatch};
use serde_json::Value;

use super::context::Flow;
use super::error::FlowResult;
use super::orders::deal_of;

pub(crate) async fn run(flow: &mut Flow<'_>) -> FlowResult<()> {
    let order: Order = flow.payload()?;
    let (deal_id, _) = deal_of(flow, &order).await?;
    let patch = target_state(flow, &order)?;
    let client = flow.client.clone();
    flow.journal()
        .repeatable("status", deal_id, || async {
            client.deals().update(deal_id, &patch).await?;
            Ok(())
        })
        .await
}

/// The order-status field, and the stage or status the tenant maps the status to.
fn target_state(flow: &Flow<'_>, order: &Order) -> FlowResult<DealPatch> {
    let mut custom_fields = CustomFields::new();
    custom_fields.insert(
        flow.field(FieldPurpose::DealOrderStatus)?.to_owned(),
        Value::String(order.status.clone()),
    );
    let mut patch = DealPatch {
        custom_fields,
        ..DealPatch::default()
    };
    let status = order.status.trim().to_lowercase();
    match flow.settings.order_status_targets.get(&status) {
        Some(StatusTarget::Stage { stage_id }) => {
            patch.stage_id = Some(*stage_id);
            patch.status = Some("open".into());
        }
        Some(StatusTarget::Won) => patch.status = Some("won".into()),
        Some(StatusTarget::Lost) => patch.status = Some("lost".into()),
        None => {}
    }
    Ok(patch)
}
