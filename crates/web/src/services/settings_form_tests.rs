use super::*;
use crate::services::settings_choices::{
    ActivityTypeChoice, Choices, PipelineChoice, StageChoice, UserChoice,
};

fn choices() -> Choices {
    let stage = |id, name: &str| StageChoice {
        id,
        name: name.into(),
    };
    Choices {
        pipelines: vec![
            PipelineChoice {
                id: 1,
                name: "Sales".into(),
                stages: vec![stage(1, "Lead in"), stage(2, "Won over")],
            },
            PipelineChoice {
                id: 2,
                name: "Renewals".into(),
                stages: vec![stage(7, "Due")],
            },
        ],
        users: vec![UserChoice {
            id: 10,
            name: "Ada".into(),
        }],
        activity_types: vec![ActivityTypeChoice {
            key: "call".into(),
            name: "Call".into(),
        }],
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn valid() -> Vec<(String, String)> {
    pairs(&[
        ("version", "3"),
        ("pipeline_id", "1"),
        ("stage_id", "2"),
        ("owner_id", "10"),
        ("activity_type", "call"),
        ("activity_due_days", "2"),
        ("signup_deal_title", "{name} from {company}"),
        ("order_deal_title", "Order {order}"),
        ("status_0", "Shipped"),
        ("target_0", "stage:7"),
        ("status_1", "refunded"),
        ("target_1", "lost"),
        ("status_2", ""),
        ("target_2", ""),
        ("source_shopify", "on"),
        ("plan", "growth"),
        ("seats", "5"),
    ])
}

#[test]
fn a_valid_form_becomes_settings() {
    let form = SettingsForm::from_pairs(&valid());
    assert_eq!(form.based_on(), Ok(Some(3)));
    let settings = form.validate(&choices()).unwrap();
    assert_eq!(settings.pipeline_id, Some(1));
    assert_eq!(settings.stage_id, Some(2));
    assert_eq!(settings.owner_id, Some(10));
    assert_eq!(settings.activity_due_days, 2);
    assert_eq!(
        settings.order_status_targets.get("shipped"),
        Some(&StatusTarget::Stage { stage_id: 7 }),
        "statuses are kept in lower case"
    );
    assert_eq!(
        settings.order_status_targets.len(),
        2,
        "the blank row is no row"
    );
    assert!(settings.sources.shopify && !settings.sources.event_api);
    assert_eq!(
        (settings.plan, settings.seats),
        (Some(Plan::Growth), Some(5))
    );
}

#[test]
fn saved_settings_show_and_read_back_unchanged() {
    let settings = SettingsForm::from_pairs(&valid())
        .validate(&choices())
        .unwrap();
    let form = SettingsForm::from_settings(&settings, Some(4));
    let posted: Vec<(String, String)> = serde_urlencoded_pairs(&form);
    let again = SettingsForm::from_pairs(&posted)
        .validate(&choices())
        .unwrap();
    assert_eq!(again, settings);
}

/// What a browser posts for a form showing `form`.
fn serde_urlencoded_pairs(form: &SettingsForm) -> Vec<(String, String)> {
    let mut out = pairs(&[
        ("version", &form.version),
        ("pipeline_id", &form.pipeline_id),
        ("stage_id", &form.stage_id),
        ("owner_id", &form.owner_id),
        ("activity_type", &form.activity_type),
        ("activity_due_days", &form.activity_due_days),
        ("signup_deal_title", &form.signup_deal_title),
        ("order_deal_title", &form.order_deal_title),
        ("plan", &form.plan),
        ("seats", &form.seats),
    ]);
    for (i, row) in form.rows.iter().enumerate() {
        out.push((format!("status_{i}"), row.status.clone()));
        out.push((format!("target_{i}"), row.target.clone()));
    }
    for (name, on) in [
        ("source_event_api", form.source_event_api),
        ("source_shopify", form.source_shopify),
        ("source_woocommerce", form.source_woocommerce),
        ("source_api2cart", form.source_api2cart),
    ] {
        if on {
            out.push((name.into(), "on".into()));
        }
    }
    out
}

fn refused(changes: &[(&str, &str)]) -> FieldErrors {
    let mut posted = valid();
    for (name, value) in changes {
        posted.retain(|(k, _)| k != name);
        posted.push(((*name).to_owned(), (*value).to_owned()));
    }
    let form = SettingsForm::from_pairs(&posted);
    form.validate(&choices()).expect_err("refused")
}

#[test]
fn stages_must_exist_and_belong_to_the_chosen_pipeline() {
    let errors = refused(&[("stage_id", "99")]);
    assert_eq!(
        errors["stage_id"],
        "Stage 99 does not exist in your Pipedrive."
    );
    let errors = refused(&[("stage_id", "7")]);
    assert!(
        errors["stage_id"].contains("belongs to the pipeline \u{201c}Renewals\u{201d}"),
        "{errors:?}"
    );
    let errors = refused(&[("pipeline_id", "5")]);
    assert!(
        errors["pipeline_id"].contains("does not exist"),
        "{errors:?}"
    );
    let errors = refused(&[("pipeline_id", ""), ("stage_id", "2")]);
    assert!(
        errors["stage_id"].contains("pipeline of this stage"),
        "{errors:?}"
    );
}

#[test]
fn users_activity_types_and_numbers_are_checked() {
    let errors = refused(&[
        ("owner_id", "11"),
        ("activity_type", "telepathy"),
        ("activity_due_days", "-1"),
        ("seats", "0"),
        ("plan", "gold"),
    ]);
    assert!(errors["owner_id"].contains("not an active user"));
    assert!(errors["activity_type"].contains("telepathy"));
    assert!(errors["activity_due_days"].contains("0 to 365"));
    assert!(errors["seats"].contains("1 to 10000"));
    assert!(errors["plan"].contains("listed plans"));
    assert!(refused(&[("seats", "10001")]).contains_key("seats"));
}

#[test]
fn templates_must_be_present_short_and_use_known_placeholders() {
    assert!(refused(&[("signup_deal_title", "")])["signup_deal_title"].contains("Enter a title"));
    let long = "x".repeat(MAX_TEMPLATE_CHARS + 1);
    assert!(refused(&[("order_deal_title", &long)])["order_deal_title"].contains("200 characters"));
    let errors = refused(&[("order_deal_title", "Order {ordr}")]);
    assert!(
        errors["order_deal_title"].starts_with("{ordr} is not"),
        "{errors:?}"
    );
    // A brace that is not a placeholder is text.
    let ok = SettingsForm::from_pairs(&{
        let mut p = valid();
        p.retain(|(k, _)| k != "order_deal_title");
        p.push(("order_deal_title".into(), "Order {order} {".into()));
        p
    });
    assert!(ok.validate(&choices()).is_ok());
}

#[test]
fn status_rows_are_checked_and_removable() {
    let errors = refused(&[("target_0", "stage:99")]);
    assert_eq!(
        errors["row_0"],
        "Stage 99 does not exist in your Pipedrive."
    );
    let errors = refused(&[("status_1", "SHIPPED")]);
    assert!(errors["row_1"].contains("listed twice"), "{errors:?}");
    let errors = refused(&[("target_1", "")]);
    assert!(
        errors["row_1"].contains("a stage, won or lost"),
        "{errors:?}"
    );
    let mut posted = valid();
    posted.push(("remove_0".into(), "on".into()));
    let settings = SettingsForm::from_pairs(&posted)
        .validate(&choices())
        .unwrap();
    assert!(!settings.order_status_targets.contains_key("shipped"));
}

#[test]
fn a_refused_form_keeps_what_was_typed() {
    let mut posted = valid();
    posted.retain(|(k, _)| k != "stage_id");
    posted.push(("stage_id".into(), "99".into()));
    let form = SettingsForm::from_pairs(&posted);
    assert!(form.validate(&choices()).is_err());
    assert_eq!(form.stage_id, "99");
    assert_eq!(form.signup_deal_title, "{name} from {company}");
    assert_eq!(form.rows[0].status, "Shipped");
}
