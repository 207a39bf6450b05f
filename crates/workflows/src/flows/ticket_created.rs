//! `ticket.created`: an Activity (a task) on the person who opened the ticket, found by email or
//! created, due the day the ticket came in; its note carries the priority and description.

use dealbridge_core::outcome::RecordKind;
use dealbridge_events::event_api::payloads::{Ticket, TicketPriority};
use dealbridge_pipedrive::models::ActivityInput;

use super::context::{html, marker, Flow};
use super::error::FlowResult;
use super::find::{person, PersonDetails};
use super::journal::Lookup;
use super::signup::find_activity;

pub(crate) async fn run(flow: &mut Flow<'_>) -> FlowResult<()> {
    let ticket: Ticket = flow.payload()?;
    let person_id = person(flow, &ticket.email, PersonDetails::default()).await?;
    let ref_line = marker(&flow.event_key());
    let mut note = String::new();
    if let Some(priority) = ticket.priority {
        note.push_str(&format!("Priority: {}<br>", priority_label(priority)));
    }
    if let Some(description) = &ticket.description {
        note.push_str(&format!("{}<br>", html(description)));
    }
    note.push_str(&ref_line);
    let activity = ActivityInput {
        subject: Some(format!("Ticket {}: {}", ticket.ticket_id, ticket.subject)),
        activity_type: Some("task".into()),
        owner_id: Some(flow.owner_id),
        person_id: Some(person_id),
        due_date: Some(flow.event.occurred_at.format("%Y-%m-%d").to_string()),
        note: Some(note),
        ..ActivityInput::default()
    };
    let client = flow.client.clone();
    let activity_id = flow
        .journal()
        .once(
            "activity",
            Lookup::OnResume,
            || find_activity(&client, "person_id", person_id, &ref_line),
            || async { Ok(client.activities().create(&activity).await?.id) },
        )
        .await?;
    flow.became(RecordKind::Activity, activity_id);
    Ok(())
}

fn priority_label(priority: TicketPriority) -> &'static str {
    match priority {
        TicketPriority::Low => "low",
        TicketPriority::Normal => "normal",
        TicketPriority::High => "high",
        TicketPriority::Urgent => "urgent",
    }
}
