//! Which Pipedrive budget lane a job's calls spend from. It lives with the ledger because the
//! ledger decides what each lane may spend; the queue's lanes and the client's lanes stay unaware
//! of each other.

use dealbridge_jobs::Lane;

/// The Pipedrive ledger lane a job lane's calls spend from. Handlers build their company client
/// with this lane, and the queue's budget gate asks with it, so both agree on who may spend the
/// priority reserve: only bulk jobs (imports, backfills), the big spenders, are kept from it.
pub fn ledger_lane(lane: Lane) -> dealbridge_pipedrive::Lane {
    match lane {
        Lane::Realtime => dealbridge_pipedrive::Lane::Webhook,
        Lane::Default => dealbridge_pipedrive::Lane::Interactive,
        Lane::Bulk => dealbridge_pipedrive::Lane::Bulk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bulk_jobs_are_kept_from_the_reserve() {
        for lane in Lane::ALL {
            assert_eq!(
                ledger_lane(lane).is_priority(),
                lane != Lane::Bulk,
                "{lane:?}"
            );
        }
    }
}
