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

/// A batch read and parsed from the source: the events dk can store, and how many it read.
type Batch = (Vec<(Received, String)>, usize);

/// Moves every event of `from` into `to`, [`BATCH`] at a time, calling `progress` with the
/// events done so far after each batch.
///
/// The target ingests a batch on a thread of its own while the next one is read and parsed
/// here: on PostgreSQL, reading and parsing were a fifth of the time per event, spent while the
/// server waited for the next batch.
pub fn migrate(
    from: &LineageStore,
    to: &mut dyn Lineage,
    mut progress: impl FnMut(&Migrated),
) -> Result<Migrated, StoreError> {
    let mut done = Migrated::default();
    std::thread::scope(|scope| {
        // One batch waits while one is ingested and the next is read: memory holds three.
        let (batches, incoming) = std::sync::mpsc::sync_channel::<Batch>(1);
        let (reports, ingested) = std::sync::mpsc::channel();
        let writer = scope.spawn(move || {
            for (events, read) in incoming {
                let batch: Vec<(&Received, &str)> =
                    events.iter().map(|(e, p)| (e, p.as_str())).collect();
                let result = to
                    .ingest(&batch)
                    .map(|ingested| (ingested, read, events.len()));
                let failed = result.is_err();
                if reports.send(result).is_err() || failed {
                    break;
                }
            }
        });
        let mut account = |result: Result<(crate::store::Ingested, usize, usize), StoreError>| {
            let (ingested, read, readable) = result?;
            done.events += read;
            done.unreadable += read - readable;
            done.new += ingested.new;
            done.duplicate += ingested.duplicate;
            progress(&done);
            Ok::<_, StoreError>(())
        };
        let mut after = 0;
        loop {
            let rows = from.stored_after(after, BATCH)?;
            let Some((last, _, _)) = rows.last() else {
                break;
            };
            after = *last;
            let read = rows.len();
            let events: Vec<(Received, String)> = rows
                .into_iter()
                .filter_map(|(_, key, payload)| Some((restored(key, &payload)?, payload)))
                .collect();
            // The writer stopped: its failure is among the reports.
            if batches.send((events, read)).is_err() {
                break;
            }
            while let Ok(result) = ingested.try_recv() {
                account(result)?;
            }
        }
        drop(batches);
        if let Err(panic) = writer.join() {
            std::panic::resume_unwind(panic);
        }
        for result in ingested {
            account(result)?;
        }
        Ok(done)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize) -> String {
        serde_json::json!({
            "eventType": "COMPLETE", "eventTime": "2026-11-26T10:00:00Z",
            "run": {"runId": crate::event::new_run_id()}, "job": {"namespace": "n", "name": format!("job-{i}")},
            "inputs": [{"namespace": "n", "name": format!("d{i}")}],
            "outputs": [{"namespace": "n", "name": format!("d{}", i + 1)}],
            "producer": "p", "schemaURL": "s",
        })
        .to_string()
    }

    #[test]
    fn batches_are_ingested_in_order_while_the_next_is_read_and_counted_once() {
        let mut from = LineageStore::in_memory().unwrap();
        let jsons: Vec<String> = (0..2400).map(event).collect();
        let events: Vec<(Received, &str)> = jsons
            .iter()
            .map(|json| (Received::parse_storable(json).unwrap(), json.as_str()))
            .collect();
        from.ingest_received(events.iter().map(|(e, j)| (e, *j)))
            .unwrap();
        from.connection
            .execute(
                "INSERT INTO events (key, run_id, event_type, event_time, job_namespace, job_name, payload)
                 VALUES ('k', '', '', '', '', '', 'not json')",
                [],
            )
            .unwrap();
        let mut to = LineageStore::in_memory().unwrap();
        let mut progress = Vec::new();
        let done = migrate(&from, &mut to, |done| progress.push(done.events)).unwrap();
        assert_eq!(progress, [1000, 2000, 2401]);
        let expected = Migrated {
            events: 2401,
            new: 2400,
            duplicate: 0,
            unreadable: 1,
        };
        assert_eq!(done, expected);
        assert_eq!(
            to.neighbourhood("job-1200", crate::graph::Direction::Both, 10)
                .unwrap(),
            from.neighbourhood("job-1200", crate::graph::Direction::Both, 10)
                .unwrap()
        );
    }
}
