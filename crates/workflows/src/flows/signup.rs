//! `signup`: someone signed up for the customer's product. Find or create the Organization (by
//! the email's company domain, then the company name) and the Person (by email, linked to it),
//! create the Deal (pipeline, stage, owner and title from the settings) and the follow-up
//! Activity (type, due in N days).

use std::collections::BTreeMap;

use chrono::Duration;
use dealbridge_core::outcome::RecordKind;
use dealbridge_core::workflow_settings::render_title;
use dealbridge_events::event_api::payloads::Signup;
use dealbridge_pipedrive::models::{ActivityInput, ListQuery, NewDeal};

use super::context::{marker, Flow};
use super::error::FlowResult;
use super::find::{org_key, organization, person, PersonDetails};
use super::journal::Lookup;
use super::placement::new_deal_fields;

pub(crate) async fn run(flow: &mut Flow<'_>) -> FlowResult<()> {
    let signup: Signup = flow.payload()?;
    let org_id = match org_key(Some(&signup.email), signup.company.as_deref()) {
        Some(key) => Some(organization(flow, &key).await?),
        None => None,
    };
    let details = PersonDetails {
        name: signup.name.clone(),
        org_id,
        link_found: true,
        ..PersonDetails::default()
    };
    let person_id = person(flow, &signup.email, details).await?;

    let values = BTreeMap::from([
        (
            "name",
            signup.name.clone().unwrap_or_else(|| signup.email.clone()),
        ),
        ("email", signup.email.clone()),
        ("company", signup.company.clone().unwrap_or_default()),
        ("plan", signup.plan.clone().unwrap_or_default()),
    ]);
    let title = render_title(&flow.settings.signup_deal_title, &values);
    let mut fields = new_deal_fields(flow).await?;
    fields.person_id = Some(person_id);
    fields.org_id = org_id;
    let new = NewDeal {
        title: title.clone(),
        fields,
    };
    let journal = flow.journal();
    let client = flow.client.clone();
    let deal_id = journal
        .once(
            "deal",
            Lookup::OnResume,
            // The deal carries no key of ours: after an interruption, the person's deals with
            // this title are the candidates.
            || async {
                let query = ListQuery::new().filter("person_id", person_id).limit(500);
                let deals = client.deals().list(query).await?.items;
                Ok(deals
                    .iter()
                    .find(|d| d.title.as_deref() == Some(title.as_str()))
                    .map(|d| d.id))
            },
            || async { Ok(client.deals().create(&new).await?.id) },
        )
        .await?;
    flow.became(RecordKind::Deal, deal_id);

    let ref_line = marker(&flow.event_key());
    let due = flow.event.occurred_at + Duration::days(i64::from(flow.settings.activity_due_days));
    let activity = ActivityInput {
        subject: Some(format!("Follow up: {title}")),
        activity_type: Some(flow.settings.activity_type.clone()),
        owner_id: Some(flow.owner_id),
        deal_id: Some(deal_id),
        person_id: Some(person_id),
        org_id,
        due_date: Some(due.format("%Y-%m-%d").to_string()),
        note: Some(ref_line.clone()),
        ..ActivityInput::default()
    };
    let activity_id = journal
        .once(
            "activity",
            Lookup::OnResume,
            || find_activity(&client, "deal_id", deal_id, &ref_line),
            || async { Ok(client.activities().create(&activity).await?.id) },
        )
        .await?;
    flow.became(RecordKind::Activity, activity_id);
    Ok(())
}

/// The activity of `filter` = `id` whose note carries `ref_line`.
pub(crate) async fn find_activity(
    client: &dealbridge_pipedrive::CompanyClient,
    filter: &'static str,
    id: u64,
    ref_line: &str,
) -> FlowResult<Option<u64>> {
    let query = ListQuery::new().filter(filter, id).limit(500);
    let activities = client.activities().list(query).await?.items;
    Ok(activities
        .iter()
        .find(|a| {
            a.extra
                .get("note")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|note| note.contains(ref_line))
        })
        .map(|a| a.id))
}
