//! Where new deals go: the tenant's chosen pipeline and stage, resolved at run time when the
//! settings leave them open.

use dealbridge_pipedrive::models::{DealPatch, ListQuery};

use super::context::Flow;
use super::error::FlowResult;

/// The pipeline, stage and owner of a new deal. A stage chosen in the settings is used as is
/// (Pipedrive takes the pipeline from it); a pipeline without a stage gets its first stage (one
/// call); with neither, both are left out and Pipedrive puts the deal in the first stage of the
/// company's default pipeline, which costs nothing.
pub(crate) async fn new_deal_fields(flow: &Flow<'_>) -> FlowResult<DealPatch> {
    let settings = &flow.settings;
    let stage_id = match (settings.pipeline_id, settings.stage_id) {
        (_, Some(stage)) => Some(stage),
        (Some(pipeline), None) => first_stage(flow, pipeline).await?,
        (None, None) => None,
    };
    Ok(DealPatch {
        owner_id: Some(flow.owner_id),
        pipeline_id: settings.pipeline_id,
        stage_id,
        ..DealPatch::default()
    })
}

async fn first_stage(flow: &Flow<'_>, pipeline: u64) -> FlowResult<Option<u64>> {
    let query = ListQuery::new().filter("pipeline_id", pipeline).limit(100);
    let stages = flow.client.stages().list(query).await?.items;
    Ok(stages
        .iter()
        .min_by_key(|stage| (stage.order_nr.unwrap_or(i64::MAX), stage.id))
        .map(|stage| stage.id))
}
