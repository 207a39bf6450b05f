//! Imports run against the sandbox: each duplicate policy, and a write cut off after Pipedrive
//! applied it, then resumed, with no duplicate and no lost row; and the duplicate lookups answered
//! by the local mirror when it is known complete, searched when it is not.

mod support;

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use dealbridge_core::event::PipedriveEntity;
use dealbridge_import::control;
use dealbridge_pipedrive::models::{ContactEntry, PersonInput};
use dealbridge_pipedrive::Lane;
use dealbridge_sandbox::{CallRecord, FaultSpec};
use dealbridge_storage::{
    DuplicatePolicy, Import, ImportKind, ImportState, MirrorLookup, MirrorRecord,
    NewWebhookRegistration, RowState, WebhookState,
};
use libtest_mimic::{Arguments, Failed, Trial};
use support::{Cleanup, Env};

/// Ada exists in Pipedrive already; Bob twice in the file; one row with a bad email.
const PEOPLE: &str = "Name,Email\nAda Lovelace,ada@example.com\nBob,bob@example.com\nRobert,bob@example.com\nCy,not-an-email\n";

async fn with_ada(env: &Env) -> anyhow::Result<u64> {
    let client = env
        .workflows
        .company_client(env.tenant.id, env.user, Lane::Interactive)
        .await?;
    let ada = PersonInput {
        name: Some("Ada".into()),
        emails: Some(vec![ContactEntry {
            value: "ada@example.com".into(),
            primary: true,
            label: None,
        }]),
        ..PersonInput::default()
    };
    Ok(client.persons().create(&ada).await?.id)
}

fn names_by_email(env: &Env, email: &str) -> anyhow::Result<Vec<String>> {
    Ok(env
        .persons()?
        .iter()
        .filter(|p| {
            p["emails"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["value"] == email)
        })
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect())
}

async fn skip_leaves_existing_records_and_duplicates_in_the_file_alone(
    env: Env,
) -> anyhow::Result<()> {
    with_ada(&env).await?;
    let (import, done) = env
        .import_to_end(ImportKind::Persons, PEOPLE, DuplicatePolicy::Skip)
        .await?;
    assert_eq!(done.state, ImportState::Done);
    assert_eq!(
        (done.done_rows, done.skipped_rows, done.failed_rows),
        (1, 2, 1)
    );
    assert_eq!(
        names_by_email(&env, "ada@example.com")?,
        vec!["Ada"],
        "Ada untouched"
    );
    assert_eq!(
        names_by_email(&env, "bob@example.com")?,
        vec!["Bob"],
        "Bob once"
    );
    let skipped = env
        .store
        .import_rows(env.tenant.id, import.id, Some(RowState::Skipped), 0, 10)
        .await?;
    let reasons: Vec<_> = skipped.iter().filter_map(|r| r.reason.clone()).collect();
    assert!(
        reasons[0].starts_with("already in Pipedrive"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("duplicate of row 2 in this file"),
        "{reasons:?}"
    );
    let failed = env
        .store
        .import_rows(env.tenant.id, import.id, Some(RowState::Failed), 0, 10)
        .await?;
    assert!(
        failed[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("not an email address")),
        "{failed:?}"
    );
    assert!(done.tokens_spent > 0, "tokens counted");
    let log = env.store.audit_log(Some(env.tenant.id), 5).await?;
    assert!(
        log.iter()
            .any(|e| e.action == "import.finished" && e.detail["skipped"] == 2),
        "{log:?}"
    );
    Ok(())
}

async fn update_writes_the_rows_values_over_the_record_found(env: Env) -> anyhow::Result<()> {
    let ada = with_ada(&env).await?;
    let (import, done) = env
        .import_to_end(ImportKind::Persons, PEOPLE, DuplicatePolicy::Update)
        .await?;
    assert_eq!(
        (done.done_rows, done.skipped_rows, done.failed_rows),
        (3, 0, 1)
    );
    assert_eq!(
        names_by_email(&env, "ada@example.com")?,
        vec!["Ada Lovelace"],
        "Ada updated"
    );
    assert_eq!(
        names_by_email(&env, "bob@example.com")?,
        vec!["Robert"],
        "one Bob, updated by the later row"
    );
    let rows = env
        .store
        .import_rows(env.tenant.id, import.id, None, 0, 1)
        .await?;
    assert_eq!(
        rows[0].pipedrive_id,
        Some(i64::try_from(ada)?),
        "the row points at the record it updated"
    );
    assert_eq!(env.duplicate_persons()?, 0);
    Ok(())
}

async fn create_makes_a_record_for_every_valid_row(env: Env) -> anyhow::Result<()> {
    with_ada(&env).await?;
    let (_, done) = env
        .import_to_end(ImportKind::Persons, PEOPLE, DuplicatePolicy::Create)
        .await?;
    assert_eq!(
        (done.done_rows, done.skipped_rows, done.failed_rows),
        (3, 0, 1)
    );
    assert_eq!(names_by_email(&env, "ada@example.com")?.len(), 2);
    assert_eq!(names_by_email(&env, "bob@example.com")?.len(), 2);
    assert_eq!(env.duplicate_persons()?, 2, "what the policy asked for");
    Ok(())
}

async fn a_write_cut_off_after_pipedrive_applied_it_is_found_not_repeated(
    env: Env,
) -> anyhow::Result<()> {
    let mut csv = String::from("Name,Email\n");
    for n in 1..=12 {
        csv.push_str(&format!("Person {n},p{n}@example.com\n"));
    }
    let import = env
        .start_import(ImportKind::Persons, &csv, DuplicatePolicy::Skip)
        .await?;

    // Every write is applied, then the connection drops before the answer: the first row's
    // person exists in Pipedrive, its id is not in the journal, the job waits for its retry.
    let drop_every_write = FaultSpec {
        drop_after_write_rate: 1.0,
        ..FaultSpec::default()
    };
    env.sandbox
        .control()
        .set_faults(Some(env.company), drop_every_write);
    let cut = env.run_import(&import, Duration::from_millis(1)).await?;
    assert_eq!(cut.state, ImportState::Running);
    assert_eq!(cut.done_rows, 0, "nothing finished");
    assert_eq!(env.persons()?.len(), 1, "the first write was applied");
    let first = env
        .store
        .import_rows(env.tenant.id, import.id, None, 0, 1)
        .await?;
    assert!(
        first[0].intent.is_some() && first[0].pipedrive_id.is_none(),
        "{first:?}"
    );

    // The fault is gone and the retry resumes: rows already written are found, not written again.
    env.sandbox.control().clear_faults();
    let done = env.run_import(&import, Duration::from_secs(60)).await?;
    assert_eq!(done.state, ImportState::Done, "{done:?}");
    assert_eq!(
        (done.done_rows, done.failed_rows, done.skipped_rows),
        (12, 0, 0)
    );
    assert_eq!(env.persons()?.len(), 12, "no row lost, none twice");
    assert_eq!(env.duplicate_persons()?, 0);
    let rows = env
        .store
        .import_rows(env.tenant.id, import.id, None, 0, 20)
        .await?;
    let mut ids: Vec<_> = rows.iter().filter_map(|r| r.pipedrive_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 12, "each row holds its own record");
    Ok(())
}

/// Under `create` several strands send batches of concurrent creates. Every write is applied and
/// then its answer lost: each row that was under way has its intent and no id. The retry finds
/// each of them (one record per row, none adopted twice) and writes none again.
async fn concurrent_creates_cut_off_are_recovered_not_repeated(env: Env) -> anyhow::Result<()> {
    let rows = 40;
    let mut csv = String::from("Name,Email\n");
    for n in 1..=rows {
        csv.push_str(&format!("Person {n},p{n}@example.com\n"));
    }
    let import = env
        .start_import(ImportKind::Persons, &csv, DuplicatePolicy::Create)
        .await?;
    let drop_every_write = FaultSpec {
        drop_after_write_rate: 1.0,
        ..FaultSpec::default()
    };
    env.sandbox
        .control()
        .set_faults(Some(env.company), drop_every_write);
    let cut = env.run_import(&import, Duration::from_millis(1)).await?;
    assert_eq!(cut.state, ImportState::Running);
    assert_eq!(cut.done_rows, 0, "nothing finished");
    let applied = env.persons()?.len();
    assert!(
        applied > 1,
        "several creates were under way at once: {applied} applied"
    );
    let journal = env
        .store
        .import_rows(env.tenant.id, import.id, None, 0, 100)
        .await?;
    let cut_off = journal
        .iter()
        .filter(|r| r.intent.is_some() && r.pipedrive_id.is_none())
        .count();
    assert!(
        cut_off >= applied,
        "each applied write has its intent and no id: {cut_off} of {applied}"
    );

    env.sandbox.control().clear_faults();
    let done = env.run_import(&import, Duration::from_secs(90)).await?;
    assert_eq!(done.state, ImportState::Done, "{done:?}");
    assert_eq!(
        (done.done_rows, done.failed_rows, done.skipped_rows),
        (rows, 0, 0)
    );
    assert_eq!(
        env.persons()?.len(),
        usize::try_from(rows)?,
        "no row lost, none twice"
    );
    assert_eq!(env.duplicate_persons()?, 0);
    let journal = env
        .store
        .import_rows(env.tenant.id, import.id, None, 0, 100)
        .await?;
    let mut ids: Vec<_> = journal.iter().filter_map(|r| r.pipedrive_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), journal.len(), "each row holds its own record");
    let log = env.store.audit_log(Some(env.tenant.id), 5).await?;
    assert_eq!(
        log.iter().filter(|e| e.action == "import.finished").count(),
        1,
        "the last strand through ends the import, once: {log:?}"
    );
    Ok(())
}

async fn pause_resume_and_cancel_stop_and_restart_the_chunks(env: Env) -> anyhow::Result<()> {
    let store = env.store.as_ref();
    let import = env
        .start_import(ImportKind::Persons, PEOPLE, DuplicatePolicy::Skip)
        .await?;
    control::pause(store, &import).await?;
    let paused = env.run_import(&import, Duration::from_millis(1)).await?;
    assert_eq!(paused.state, ImportState::Paused);
    assert_eq!(paused.pending_rows(), 4, "a paused import writes nothing");
    assert_eq!(env.persons()?.len(), 0);
    assert!(
        control::pause(store, &paused).await.is_err(),
        "paused twice"
    );

    control::resume(store, &paused).await?;
    let done = env.run_import(&import, Duration::from_secs(30)).await?;
    assert_eq!(done.state, ImportState::Done);
    assert_eq!(done.pending_rows(), 0);
    assert!(
        control::resume(store, &done).await.is_err(),
        "a finished import does not resume"
    );

    let second = env
        .start_import(
            ImportKind::Persons,
            "Name,Email\nDee,dee@example.com\n",
            DuplicatePolicy::Skip,
        )
        .await?;
    control::cancel(store, &second, "test").await?;
    let cancelled = env.run_import(&second, Duration::from_millis(1)).await?;
    assert_eq!(cancelled.state, ImportState::Cancelled);
    assert!(cancelled.finished_at.is_some());
    assert!(
        names_by_email(&env, "dee@example.com")?.is_empty(),
        "a cancelled import wrote"
    );
    let log = env.store.audit_log(Some(env.tenant.id), 10).await?;
    assert!(
        log.iter().any(|e| e.action == "import.cancelled"),
        "{log:?}"
    );
    Ok(())
}

/// Deals link their person by email and their organization by name, the organization created
/// once however many rows name it.
async fn deals_link_their_person_and_organization(env: Env) -> anyhow::Result<()> {
    let ada = with_ada(&env).await?;
    let csv = "Deal name,Amount,Currency,Contact email,Organization\n\
        Renewal 2027,1200.50,eur,ada@example.com,Analytical Engines\n\
        Upsell,300,EUR,nobody@example.com,Analytical Engines\n\
        Broken,12k,EUR,,\n";
    let (_, done) = env
        .import_to_end(ImportKind::Deals, csv, DuplicatePolicy::Skip)
        .await?;
    assert_eq!((done.done_rows, done.failed_rows), (2, 1), "{done:?}");
    let control = env.sandbox.control();
    let orgs = control.records(env.company, dealbridge_sandbox::EntityKind::Organization)?;
    assert_eq!(orgs.len(), 1, "one organization for both rows: {orgs:?}");
    let deals = control.records(env.company, dealbridge_sandbox::EntityKind::Deal)?;
    let renewal = deals
        .iter()
        .find(|d| d["title"] == "Renewal 2027")
        .ok_or_else(|| anyhow::anyhow!("no renewal deal: {deals:?}"))?;
    assert_eq!(renewal["value"].as_f64(), Some(1200.5));
    assert_eq!(renewal["currency"], "EUR");
    assert_eq!(renewal["person_id"].as_u64(), Some(ada));
    assert_eq!(renewal["org_id"], orgs[0]["id"]);
    let upsell = deals.iter().find(|d| d["title"] == "Upsell");
    assert!(
        upsell.is_some_and(|d| d["person_id"].is_null()),
        "an unknown email links no one"
    );
    Ok(())
}

/// The tenant's webhooks registered and checked active a minute ago, and a sweep that started
/// after that listed every kind: the mirror is known complete (as after an install).
async fn mirror_complete(env: &Env) -> anyhow::Result<()> {
    let store = env.store.as_ref();
    let registration = NewWebhookRegistration {
        tenant_id: env.tenant.id,
        path_token: "import-test".into(),
        username: "import-test".into(),
        credentials: vec![0; 16],
    };
    store.ensure_webhook_registration(&registration).await?;
    let checked = Utc::now() - chrono::Duration::minutes(1);
    store
        .set_webhook_state(env.tenant.id, WebhookState::Active, checked)
        .await?;
    for entity in PipedriveEntity::ALL {
        store
            .mark_mirror_listed(env.tenant.id, entity.as_str(), checked)
            .await?;
    }
    Ok(())
}

/// Puts a person into the tenant's mirror, as a webhook of a change made before the sandbox's
/// clock starts (2026-01-05) would: anything Pipedrive answers later is newer.
async fn mirror_person(env: &Env, id: u64, name: &str, email: &str) -> anyhow::Result<()> {
    let record = MirrorRecord {
        entity: PipedriveEntity::Person,
        record_id: i64::try_from(id)?,
        name: Some(name.into()),
        email: Some(email.into()),
        domain: None,
        order_id: None,
        changed_at: chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
        data: serde_json::json!({ "id": id, "name": name }),
    };
    env.store.upsert_mirror(env.tenant.id, &record).await?;
    Ok(())
}

/// Puts a record of `entity` named `name` (a deal's title) into the tenant's mirror, as a webhook
/// would.
async fn mirror_named(
    env: &Env,
    entity: PipedriveEntity,
    id: i64,
    name: &str,
) -> anyhow::Result<()> {
    let record = MirrorRecord {
        entity,
        record_id: id,
        name: Some(name.into()),
        email: None,
        domain: None,
        order_id: None,
        changed_at: Utc::now(),
        data: serde_json::json!({ "id": id }),
    };
    env.store.upsert_mirror(env.tenant.id, &record).await?;
    Ok(())
}

/// With the mirror complete, a person keyed by name and a deal keyed by title are answered there
/// too: the mirrored ones (any case) are skipped with their ids, the others created, and no
/// search is made for either kind.
async fn names_and_titles_are_answered_by_a_complete_mirror(env: Env) -> anyhow::Result<()> {
    mirror_complete(&env).await?;
    mirror_named(&env, PipedriveEntity::Person, 9001, "Grace Hopper").await?;
    mirror_named(&env, PipedriveEntity::Deal, 9002, "Big Renewal").await?;
    env.sandbox.control().clear_calls();
    for (kind, csv, mirrored) in [
        (
            ImportKind::Persons,
            "Name\nGRACE HOPPER\nAlan Turing\n",
            9001,
        ),
        (
            ImportKind::Deals,
            "Deal name\nbig renewal\nFresh Deal\n",
            9002,
        ),
    ] {
        let (import, done) = env.import_to_end(kind, csv, DuplicatePolicy::Skip).await?;
        assert_eq!(
            (done.done_rows, done.skipped_rows, done.failed_rows),
            (1, 1, 0),
            "{done:?}"
        );
        let rows = env.rows(&import).await?;
        assert_eq!(rows[0].state, RowState::Skipped, "{rows:?}");
        assert_eq!(rows[0].pipedrive_id, Some(mirrored), "{rows:?}");
    }
    assert_eq!(searches(&env), Vec::<String>::new(), "no search was made");
    Ok(())
}

/// A person created in Pipedrive (not in the mirror); its id.
async fn person_in_pipedrive(env: &Env, name: &str, email: &str) -> anyhow::Result<u64> {
    let client = env
        .workflows
        .company_client(env.tenant.id, env.user, Lane::Interactive)
        .await?;
    let person = PersonInput {
        name: Some(name.into()),
        emails: Some(vec![ContactEntry {
            value: email.into(),
            primary: true,
            label: None,
        }]),
        ..PersonInput::default()
    };
    Ok(client.persons().create(&person).await?.id)
}

/// What a call costs, from the client's cost table.
fn cost(method: &str, path: &str) -> u64 {
    u64::from(dealbridge_pipedrive::costs::cost_of(method, path).unwrap_or(0))
}

/// The exact searches (`GET .../search`) the sandbox saw since its calls were last cleared.
fn searches(env: &Env) -> Vec<String> {
    let calls: Vec<CallRecord> = env.sandbox.control().calls(Some(env.company));
    calls
        .into_iter()
        .filter(|c| c.method == "GET" && c.path.ends_with("/search"))
        .map(|c| c.path)
        .collect()
}

/// With the mirror complete, a skip import asks it, not Pipedrive: a mirrored person is skipped
/// with her id and no search, and a person in neither is created without a search (and kept in
/// the mirror at once). The skipped row spends no token. Once the mirror is no longer known
/// complete, a miss is searched again.
async fn skip_with_a_complete_mirror_makes_no_search(env: Env) -> anyhow::Result<()> {
    let ada = with_ada(&env).await?;
    mirror_person(&env, ada, "Ada", "ada@example.com").await?;
    mirror_complete(&env).await?;
    env.sandbox.control().clear_calls();
    let csv = "Name,Email\nAda Lovelace,ADA@example.com \nEve,eve@example.com\n";
    let (import, done) = env
        .import_to_end(ImportKind::Persons, csv, DuplicatePolicy::Skip)
        .await?;
    assert_eq!(done.state, ImportState::Done, "{done:?}");
    assert_eq!(
        (done.done_rows, done.skipped_rows, done.failed_rows),
        (1, 1, 0)
    );
    assert_eq!(searches(&env), Vec::<String>::new(), "no search was made");
    assert_eq!(names_by_email(&env, "ada@example.com")?, vec!["Ada"]);
    assert_eq!(names_by_email(&env, "eve@example.com")?, vec!["Eve"]);
    let rows = env.rows(&import).await?;
    assert_eq!(rows[0].state, RowState::Skipped, "{rows:?}");
    assert_eq!(rows[0].pipedrive_id, Some(i64::try_from(ada)?));
    assert!(
        rows[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("already in Pipedrive")),
        "{rows:?}"
    );
    assert_eq!(
        done.tokens_spent,
        cost("POST", "/api/v2/persons"),
        "Eve's create, and no search counted"
    );
    let eve = env
        .store
        .find_mirror(env.tenant.id, MirrorLookup::PersonEmail("eve@example.com"))
        .await?;
    assert_eq!(
        eve.iter().map(|r| r.record_id).collect::<Vec<_>>(),
        rows[1].pipedrive_id.into_iter().collect::<Vec<_>>(),
        "the created person is in the mirror"
    );

    // The webhooks were found banned and are active again: the sweep predates their new run, so
    // the mirror is no longer known complete and Bob, in Pipedrive only, is searched and skipped.
    let states = [WebhookState::Banned, WebhookState::Active];
    let done = bob_found_by_search(&env, &states, DuplicatePolicy::Skip).await?;
    assert_eq!((done.done_rows, done.skipped_rows), (0, 1), "{done:?}");
    assert_eq!(names_by_email(&env, "bob@example.com")?, vec!["Bob"]);
    Ok(())
}

/// Bob, in Pipedrive only, imported as Robert under `policy` once the webhooks went through
/// `states`: the mirror is no longer known complete, so his row makes one search and is matched
/// to his id. The import as it ended.
async fn bob_found_by_search(
    env: &Env,
    states: &[WebhookState],
    policy: DuplicatePolicy,
) -> anyhow::Result<Import> {
    let bob = person_in_pipedrive(env, "Bob", "bob@example.com").await?;
    for state in states {
        env.store
            .set_webhook_state(env.tenant.id, *state, Utc::now())
            .await?;
    }
    env.sandbox.control().clear_calls();
    let csv = "Name,Email\nRobert,bob@example.com\n";
    let (again, done) = env.import_to_end(ImportKind::Persons, csv, policy).await?;
    assert_eq!(searches(env).len(), 1, "{:?}", searches(env));
    let rows = env.rows(&again).await?;
    assert_eq!(rows[0].pipedrive_id, Some(i64::try_from(bob)?));
    Ok(done)
}

/// With the mirror not known complete (its webhooks found banned), a mirror hit is still used,
/// but a miss is searched: Bob, in Pipedrive and not in the mirror, is found and skipped, not
/// created twice.
async fn skip_with_the_mirror_not_known_complete_searches_a_miss(env: Env) -> anyhow::Result<()> {
    let ada = with_ada(&env).await?;
    mirror_person(&env, ada, "Ada", "ada@example.com").await?;
    let bob = person_in_pipedrive(&env, "Bob", "bob@example.com").await?;
    mirror_complete(&env).await?;
    env.store
        .set_webhook_state(env.tenant.id, WebhookState::Banned, Utc::now())
        .await?;
    env.sandbox.control().clear_calls();
    let csv =
        "Name,Email\nAda Lovelace,ada@example.com\nRobert,bob@example.com\nEve,eve@example.com\n";
    let (import, done) = env
        .import_to_end(ImportKind::Persons, csv, DuplicatePolicy::Skip)
        .await?;
    assert_eq!(done.state, ImportState::Done, "{done:?}");
    assert_eq!(
        (done.done_rows, done.skipped_rows, done.failed_rows),
        (1, 2, 0)
    );
    assert_eq!(
        searches(&env).len(),
        2,
        "Bob and Eve searched, Ada found in the mirror: {:?}",
        searches(&env)
    );
    assert_eq!(names_by_email(&env, "bob@example.com")?, vec!["Bob"]);
    assert_eq!(env.duplicate_persons()?, 0);
    let rows = env.rows(&import).await?;
    assert_eq!(rows[0].pipedrive_id, Some(i64::try_from(ada)?));
    assert_eq!(rows[1].pipedrive_id, Some(i64::try_from(bob)?));
    assert_eq!(
        done.tokens_spent,
        2 * cost("GET", "/api/v2/persons/search") + cost("POST", "/api/v2/persons"),
        "both searches counted, and Eve's create"
    );
    Ok(())
}

/// With the mirror complete, an update import updates the mirrored person found by email, and
/// the organization both rows name is created once (the second row finds it in the mirror):
/// not one search. With a webhook found missing, a miss is searched again.
async fn update_with_a_complete_mirror_updates_the_mirrored_person(env: Env) -> anyhow::Result<()> {
    let ada = with_ada(&env).await?;
    mirror_person(&env, ada, "Ada", "ada@example.com").await?;
    mirror_complete(&env).await?;
    env.sandbox.control().clear_calls();
    let csv = "Name,Email,Organization\n\
        Ada Lovelace,ada@example.com,Analytical Engines\n\
        Eve,eve@example.com,Analytical Engines\n";
    let (import, done) = env
        .import_to_end(ImportKind::Persons, csv, DuplicatePolicy::Update)
        .await?;
    assert_eq!(done.state, ImportState::Done, "{done:?}");
    assert_eq!(
        (done.done_rows, done.skipped_rows, done.failed_rows),
        (2, 0, 0)
    );
    assert_eq!(searches(&env), Vec::<String>::new(), "no search was made");
    assert_eq!(
        names_by_email(&env, "ada@example.com")?,
        vec!["Ada Lovelace"],
        "Ada updated"
    );
    // Pipedrive's answer reached the mirror: a lookup by her new name finds her at once.
    let renamed = MirrorLookup::Name(PipedriveEntity::Person, "ada lovelace");
    let held = env.store.find_mirror(env.tenant.id, renamed).await?;
    let held: Vec<i64> = held.iter().map(|r| r.record_id).collect();
    assert_eq!(
        held,
        vec![i64::try_from(ada)?],
        "the mirror holds the update"
    );
    assert_eq!(env.duplicate_persons()?, 0);
    let rows = env.rows(&import).await?;
    assert_eq!(rows[0].pipedrive_id, Some(i64::try_from(ada)?));
    let control = env.sandbox.control();
    let orgs = control.records(env.company, dealbridge_sandbox::EntityKind::Organization)?;
    assert_eq!(orgs.len(), 1, "one organization for both rows: {orgs:?}");
    let persons = env.persons()?;
    assert!(
        persons.iter().all(|p| p["org_id"] == orgs[0]["id"]),
        "{persons:?}"
    );

    // A webhook found missing: Bob, in Pipedrive only, is searched and updated, not duplicated.
    let states = [WebhookState::Missing];
    let done = bob_found_by_search(&env, &states, DuplicatePolicy::Update).await?;
    assert_eq!((done.done_rows, done.failed_rows), (1, 0), "{done:?}");
    assert_eq!(names_by_email(&env, "bob@example.com")?, vec!["Robert"]);
    Ok(())
}

/// With the mirror complete, a row cut off after Pipedrive applied its organization's create
/// (the answer lost, so the organization is not in the mirror) searches its lookups when it runs
/// again: the organization is found, not created twice, and no person is duplicated. A person
/// whose create was cut off is adopted and then held in the mirror.
async fn a_row_run_again_searches_its_misses_with_a_complete_mirror(
    env: Env,
) -> anyhow::Result<()> {
    mirror_complete(&env).await?;
    let csv = "Name,Email,Organization\n\
        Ada,ada@example.com,Analytical Engines\n\
        Bob,bob@example.com,Analytical Engines\n";
    let import = env
        .start_import(ImportKind::Persons, csv, DuplicatePolicy::Skip)
        .await?;
    let drop_every_write = FaultSpec {
        drop_after_write_rate: 1.0,
        ..FaultSpec::default()
    };
    env.sandbox
        .control()
        .set_faults(Some(env.company), drop_every_write.clone());
    let cut = env.run_import(&import, Duration::from_millis(1)).await?;
    assert_eq!(cut.state, ImportState::Running);
    let control = env.sandbox.control();
    let orgs = control.records(env.company, dealbridge_sandbox::EntityKind::Organization)?;
    assert_eq!(orgs.len(), 1, "the organization's create was applied");
    assert_eq!(env.persons()?.len(), 0, "and nothing after it");

    env.sandbox.control().clear_faults();
    let done = env.run_import(&import, Duration::from_secs(60)).await?;
    assert_eq!(done.state, ImportState::Done, "{done:?}");
    assert_eq!((done.done_rows, done.failed_rows), (2, 0), "{done:?}");
    let orgs = control.records(env.company, dealbridge_sandbox::EntityKind::Organization)?;
    assert_eq!(orgs.len(), 1, "one organization for both rows: {orgs:?}");
    assert_eq!(env.persons()?.len(), 2);
    assert_eq!(env.duplicate_persons()?, 0);

    // A person's create cut off the same way is adopted when the row runs again, and the mirror
    // then holds her, so a later import's lookup finds her there without a search.
    let cy = env
        .start_import(
            ImportKind::Persons,
            "Name,Email\nCy,cy@example.com\n",
            DuplicatePolicy::Skip,
        )
        .await?;
    env.sandbox
        .control()
        .set_faults(Some(env.company), drop_every_write);
    let cut = env.run_import(&cy, Duration::from_millis(1)).await?;
    assert_eq!(cut.state, ImportState::Running);
    env.sandbox.control().clear_faults();
    let done = env.run_import(&cy, Duration::from_secs(60)).await?;
    assert_eq!((done.done_rows, done.failed_rows), (1, 0), "{done:?}");
    let held = env
        .store
        .find_mirror(env.tenant.id, MirrorLookup::PersonEmail("cy@example.com"))
        .await?;
    assert_eq!(held.len(), 1, "the adopted person is in the mirror");
    env.sandbox.control().clear_calls();
    let (_, done) = env
        .import_to_end(
            ImportKind::Persons,
            "Name,Email\nCy,cy@example.com\n",
            DuplicatePolicy::Skip,
        )
        .await?;
    assert_eq!((done.done_rows, done.skipped_rows), (0, 1), "{done:?}");
    assert_eq!(searches(&env), Vec::<String>::new());
    assert_eq!(env.duplicate_persons()?, 0);
    Ok(())
}

const URL_VAR: &str = "TEST_POSTGRES_URL";

type Scenario = fn(Env) -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// Each scenario on SQLite, and on Postgres when `TEST_POSTGRES_URL` is set (listed as ignored
/// otherwise).
fn main() {
    let args = Arguments::from_args();
    let url = std::env::var(URL_VAR).ok();
    if url.is_none() {
        eprintln!("postgres import runs SKIPPED: {URL_VAR} is not set");
    }
    let scenarios: [(&str, Scenario); 12] = [
        (
            "names_and_titles_are_answered_by_a_complete_mirror",
            |env| Box::pin(names_and_titles_are_answered_by_a_complete_mirror(env)),
        ),
        (
            "a_row_run_again_searches_its_misses_with_a_complete_mirror",
            |env| {
                Box::pin(a_row_run_again_searches_its_misses_with_a_complete_mirror(
                    env,
                ))
            },
        ),
        ("skip_with_a_complete_mirror_makes_no_search", |env| {
            Box::pin(skip_with_a_complete_mirror_makes_no_search(env))
        }),
        (
            "skip_with_the_mirror_not_known_complete_searches_a_miss",
            |env| Box::pin(skip_with_the_mirror_not_known_complete_searches_a_miss(env)),
        ),
        (
            "update_with_a_complete_mirror_updates_the_mirrored_person",
            |env| {
                Box::pin(update_with_a_complete_mirror_updates_the_mirrored_person(
                    env,
                ))
            },
        ),
        (
            "concurrent_creates_cut_off_are_recovered_not_repeated",
            |env| Box::pin(concurrent_creates_cut_off_are_recovered_not_repeated(env)),
        ),
        ("deals_link_their_person_and_organization", |env| {
            Box::pin(deals_link_their_person_and_organization(env))
        }),
        (
            "pause_resume_and_cancel_stop_and_restart_the_chunks",
            |env| Box::pin(pause_resume_and_cancel_stop_and_restart_the_chunks(env)),
        ),
        (
            "skip_leaves_existing_records_and_duplicates_in_the_file_alone",
            |env| Box::pin(skip_leaves_existing_records_and_duplicates_in_the_file_alone(env)),
        ),
        (
            "update_writes_the_rows_values_over_the_record_found",
            |env| Box::pin(update_writes_the_rows_values_over_the_record_found(env)),
        ),
        ("create_makes_a_record_for_every_valid_row", |env| {
            Box::pin(create_makes_a_record_for_every_valid_row(env))
        }),
        (
            "a_write_cut_off_after_pipedrive_applied_it_is_found_not_repeated",
            |env| Box::pin(a_write_cut_off_after_pipedrive_applied_it_is_found_not_repeated(env)),
        ),
    ];
    let mut trials = Vec::new();
    for (name, scenario) in scenarios {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            run(async move {
                // The folder stays until the scenario is over.
                let (store, folder) = support::sqlite().await?;
                scenario(Env::start(store).await?).await?;
                Ok(Some(folder))
            })
        }));
        let given = url.clone();
        trials.push(
            Trial::test(format!("postgres::{name}"), move || {
                let url = given.unwrap_or_default();
                run(async move {
                    let (store, cleanup) = support::postgres(&url).await?;
                    scenario(Env::start(store).await?).await?;
                    Ok(Some(cleanup))
                })
            })
            .with_ignored_flag(url.is_none()),
        );
    }
    libtest_mimic::run(&args, trials).exit();
}

/// Runs a scenario on its own runtime; a passed Postgres scenario drops its schema.
fn run(scenario: impl Future<Output = anyhow::Result<Option<Cleanup>>>) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?;
    runtime.block_on(async {
        let cleanup = scenario.await.map_err(|e| Failed::from(format!("{e:#}")))?;
        if let Some(cleanup) = cleanup {
            cleanup.run().await;
        }
        Ok(())
    })
}
