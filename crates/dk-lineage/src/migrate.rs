//! `dk lineage migrate`: a laptop's SQLite store into a team server's store. Events are
//! re-ingested with the keys they were stored under, so a re-run (or a run that stopped half
//! way) adds only what is missing, and the derived tables come out as the target's own ingestion
//! makes them.

use rusqlite::params;
use serde::Serialize;

use crate::backend::Lineage;
use crate::event::{EventHead, Received, ReceivedKind};
use crate::store::{LineageStore, StoreError};

/// Events moved per transaction of the target.
pub const BATCH: usize = 1000;

/// What a migration did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Migrated {
    /// Events read from the source.
    pub events: usize,
    /// Of these, added to the target.
    pub new: usize,
    /// Of these, already in the target.
    pub duplicate: usize,
    /// Of these, not OpenLineage JSON dk can store (left in the source).
    pub unreadable: usize,
}

impl LineageStore {
    /// Stored events after rowid `after`, oldest first, at most `limit`: (rowid, key, payload).
    fn stored_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT rowid, key, payload FROM events WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        )?;
        let rows = statement.query_map(params![after, limit as i64], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many events the store holds.
    pub fn count_events(&self) -> Result<usize, StoreError> {
        let count: i64 = self
            .connection
            .query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))?;
        Ok(count as usize)
    }
}

/// An event as stored, under the key it was stored with: received events by their own key,
/// dk's own RunEvents by `<runId>:<type>:<time>`, which is what parsing them again gives.
fn restored(key: String, payload: &str) -> Option<Received> {
    match Received::parse_storable(payload) {
        Ok(mut event) => {
            event.key = key;
            Some(event)
        }
        Err(_) => {
            let head = EventHead::parse(payload).ok()?;
            Some(Received {
                key,
                kind: ReceivedKind::Run { head, typed: true },
            })
        }
    }
}

/// Moves every event of `from` into `to`, [`BATCH`] at a time, calling `progress` with the
/// events done so far after each batch.
pub fn migrate(
    from: &LineageStore,
    to: &mut dyn Lineage,
    mut progress: impl FnMut(&Migrated),
) -> Result<Migrated, StoreError> {
    let mut done = Migrated::default();
    let mut after = 0;
    loop {
        let rows = from.stored_after(after, BATCH)?;
        let Some((last, _, _)) = rows.last() else {
            break;
        };
        after = *last;
        done.events += rows.len();
        let events: Vec<(Received, &str)> = rows
            .iter()
            .filter_map(|(_, key, payload)| {
                Some((restored(key.clone(), payload)?, payload.as_str()))
            })
            .collect();
        done.unreadable += rows.len() - events.len();
        let batch: Vec<(&Received, &str)> = events.iter().map(|(e, p)| (e, *p)).collect();
        let ingested = to.ingest(&batch)?;
        done.new += ingested.new;
        done.duplicate += ingested.duplicate;
        progress(&done);
    }
    Ok(done)
}
