//! `deal.stage_changed`: PATCH the deal's stage, then POST the explanatory note, as one
//! retry-safe operation. Each step is journalled, so a crash between the two resumes at the note,
//! and the note carries the event's key, so a retry after a lost answer finds it instead of
//! writing a second one.

use dealbridge_core::outcome::RecordKind;
use dealbridge_events::event_api::payloads::DealStageChange;
use dealbridge_pipedrive::models::DealPatch;

use super::context::{html, Flow};
use super::error::FlowResult;
use super::journal::Lookup;
use super::notes::{find_note, NoteOn};

pub(crate) async fn run(flow: &mut Flow<'_>) -> FlowResult<()> {
    let change: DealStageChange = flow.payload()?;
    let deal_id = change.deal_id;
    let journal = flow.journal();
    let client = flow.client.clone();
    let patch = DealPatch {
        stage_id: Some(change.stage_id),
        ..DealPatch::default()
    };
    journal
        .repeatable("stage", deal_id, || async {
            client.deals().update(deal_id, &patch).await?;
            Ok(())
        })
        .await?;
    flow.became(RecordKind::Deal, deal_id);

    let key = flow.event_key();
    let on = NoteOn::Deal(deal_id);
    let note = on.note(&html(&change.note), &key);
    let note_id = journal
        .once(
            "note",
            Lookup::OnResume,
            || find_note(&client, on, &key),
            || async { Ok(client.notes().create(&note).await?.id) },
        )
        .await?;
    flow.became(RecordKind::Note, note_id);
    Ok(())
}
