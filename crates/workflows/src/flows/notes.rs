//! Notes that carry their step's key, so an interrupted step finds the note it may have written.

use dealbridge_pipedrive::models::{NoteInput, NoteQuery};
use dealbridge_pipedrive::CompanyClient;

use super::context::marker;
use super::error::FlowResult;

/// The record a note belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoteOn {
    Deal(u64),
    Person(u64),
    Organization(u64),
}

impl NoteOn {
    fn query(self) -> NoteQuery {
        let mut query = NoteQuery::default();
        match self {
            Self::Deal(id) => query.deal_id = Some(id),
            Self::Person(id) => query.person_id = Some(id),
            Self::Organization(id) => query.org_id = Some(id),
        }
        query
    }

    /// A note with `html` as its content and the key's marker as its last line.
    pub(crate) fn note(self, html: &str, key: &str) -> NoteInput {
        let mut note = NoteInput {
            content: Some(format!("{html}<br><br>{}", marker(key))),
            ..NoteInput::default()
        };
        match self {
            Self::Deal(id) => note.deal_id = Some(id),
            Self::Person(id) => note.person_id = Some(id),
            Self::Organization(id) => note.org_id = Some(id),
        }
        note
    }
}

/// The note on `on` that carries `key`'s marker, looking through every page of its notes.
pub(crate) async fn find_note(
    client: &CompanyClient,
    on: NoteOn,
    key: &str,
) -> FlowResult<Option<u64>> {
    let wanted = marker(key);
    let mut query = on.query();
    query.limit = Some(500);
    loop {
        let page = client.notes().list(query.clone()).await?;
        let found = page.items.iter().find(|note| {
            note.content
                .as_deref()
                .is_some_and(|content| content.contains(&wanted))
        });
        if let Some(note) = found {
            return Ok(Some(note.id));
        }
        match page.next_start {
            Some(next) => query.start = Some(next),
            None => return Ok(None),
        }
    }
}
