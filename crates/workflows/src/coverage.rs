//! When a miss in the local mirror means the record does not exist in Pipedrive, so find-or-create
//! may create it without an exact search first.
//!
//! The mirror holds every record of a kind when both hold:
//! - a reconcile sweep listed that kind to the end of its list (everything changed up to the
//!   sweep's start reached the mirror: the sweep writes what it lists into the mirror itself), and
//!   that sweep started after the webhooks' current unbroken run of active checks began, so no
//!   change fell into a gap of deliveries before it;
//! - the webhooks are registered and the last check, within the last hour, found them active, so
//!   a record created since (by hand in Pipedrive, say) arrives by webhook.
//!
//! Otherwise a miss is only a miss, and the search is made. What remains is the time a webhook
//! takes to arrive and be applied (seconds), and a ban that began after the last check (the check
//! runs every quarter hour and a ban lasts half an hour, so it is noticed while it lasts).

use chrono::{DateTime, Duration, Utc};
use dealbridge_core::event::PipedriveEntity;
use dealbridge_storage::{MirrorCoverage, WebhookState};

/// How old the last active check may be. The check runs every 15 minutes, so four missed runs in
/// a row (the queue stalled, or the tenant's budget spent) make the mirror untrusted.
pub(crate) const FRESH_CHECK: Duration = Duration::hours(1);

/// Whether the mirror holds every `entity` record of the tenant whose coverage this is, at `now`.
/// `None` (no webhook registration) is never complete. The workflows' find-or-create and the CSV
/// import's duplicate lookups both decide by this rule.
pub fn mirror_complete(
    coverage: Option<&MirrorCoverage>,
    entity: PipedriveEntity,
    now: DateTime<Utc>,
) -> bool {
    let Some(coverage) = coverage else {
        return false;
    };
    let checked_recently = coverage
        .checked_at
        .is_some_and(|checked| checked <= now && now - checked <= FRESH_CHECK);
    let listed_since_active = match (coverage.active_since, coverage.listed.get(entity.as_str())) {
        (Some(active_since), Some(listed)) => *listed >= active_since,
        _ => false,
    };
    coverage.state == WebhookState::Active && checked_recently && listed_since_active
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + minutes * 60, 0).unwrap_or_default()
    }

    /// Checked active at minute 0 and 30, persons listed by a sweep that started at minute 5.
    fn covered() -> MirrorCoverage {
        MirrorCoverage {
            state: WebhookState::Active,
            checked_at: Some(at(30)),
            active_since: Some(at(0)),
            listed: BTreeMap::from([("person".to_owned(), at(5))]),
        }
    }

    const PERSON: PipedriveEntity = PipedriveEntity::Person;

    #[test]
    fn listed_and_delivered_is_complete() {
        assert!(mirror_complete(Some(&covered()), PERSON, at(40)));
        // A sweep that started the very moment the run began counts.
        let mut same = covered();
        same.listed.insert("person".into(), at(0));
        assert!(mirror_complete(Some(&same), PERSON, at(40)));
    }

    #[test]
    fn a_kind_no_sweep_listed_is_not_complete() {
        assert!(!mirror_complete(
            Some(&covered()),
            PipedriveEntity::Organization,
            at(40)
        ));
    }

    #[test]
    fn no_registration_is_not_complete() {
        assert!(!mirror_complete(None, PERSON, at(40)));
    }

    #[test]
    fn webhooks_not_active_are_not_complete() {
        for state in [WebhookState::Missing, WebhookState::Banned] {
            let coverage = MirrorCoverage {
                state,
                active_since: None,
                ..covered()
            };
            assert!(
                !mirror_complete(Some(&coverage), PERSON, at(40)),
                "{state:?}"
            );
            // Even were the run left standing, the state alone decides.
            let coverage = MirrorCoverage { state, ..covered() };
            assert!(
                !mirror_complete(Some(&coverage), PERSON, at(40)),
                "{state:?}"
            );
        }
    }

    #[test]
    fn a_check_older_than_an_hour_or_none_is_not_complete() {
        assert!(mirror_complete(Some(&covered()), PERSON, at(90)));
        assert!(!mirror_complete(Some(&covered()), PERSON, at(91)));
        let never = MirrorCoverage {
            checked_at: None,
            ..covered()
        };
        assert!(!mirror_complete(Some(&never), PERSON, at(40)));
        // A check stamped in the future (clock skew) proves nothing.
        assert!(!mirror_complete(Some(&covered()), PERSON, at(29)));
    }

    #[test]
    fn a_sweep_from_before_the_active_run_is_not_complete() {
        // Webhooks were banned and came back at minute 10: what changed in the gap is only in
        // the mirror once a sweep that started after their return has listed it.
        let coverage = MirrorCoverage {
            active_since: Some(at(10)),
            ..covered()
        };
        assert!(!mirror_complete(Some(&coverage), PERSON, at(40)));
        let no_run = MirrorCoverage {
            active_since: None,
            ..covered()
        };
        assert!(!mirror_complete(Some(&no_run), PERSON, at(40)));
    }
}
