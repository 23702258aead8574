//! Ingestion into PostgreSQL with the rules of the SQLite store, a batch in a dozen statements:
//! rows go in as arrays (`unnest`), and what SQLite decides row by row is decided here from the
//! current rows, read once per batch under the ingest lock.
//!
//! Index maintenance is most of the server's work (a profile of `dk lineage migrate`: B-tree
//! inserts and `ON CONFLICT` pre-checks, 55% of its CPU), so rows are deduplicated here before
//! they are sent, and the rows of an event's own (`event_times`, `appearances`) are inserted
//! without `ON CONFLICT`: they are written only for an event this batch inserted, in the same
//! transaction, so none can exist yet; a duplicate would be a bug and fails the batch.

use std::collections::{HashMap, HashSet};

use std::cell::RefCell;

use postgres::types::ToSql;
use postgres::{Row, Statement, Transaction};

use super::{INGEST_LOCK, PgStore};
use crate::event::{DatasetHead, EventHead, JobHead, Received, normalized_time};
use crate::store::{
    BatchTags, Entry, Ingested, StoreError, Tagged, appearances, newest_runs, newest_tags, roles,
};

/// Columns of rows, one array per column, for `unnest`.
struct Columns<const N: usize> {
    columns: [Vec<Option<String>>; N],
}

impl<const N: usize> Columns<N> {
    fn new() -> Columns<N> {
        Columns {
            columns: std::array::from_fn(|_| Vec::new()),
        }
    }

    fn push(&mut self, row: [Option<&str>; N]) {
        for (column, value) in self.columns.iter_mut().zip(row) {
            column.push(value.map(str::to_owned));
        }
    }

    fn is_empty(&self) -> bool {
        self.columns[0].is_empty()
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.columns
            .iter()
            .map(|c| c as &(dyn ToSql + Sync))
            .collect()
    }
}

/// A transaction whose statements are prepared once per connection: a batch runs a dozen, each
/// prepared costs a round trip more.
struct Tx<'t, 'c> {
    tx: Transaction<'c>,
    statements: &'t RefCell<HashMap<String, Statement>>,
}

impl Tx<'_, '_> {
    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let statement = super::prepared(self.statements, &mut self.tx, sql)?;
        Ok(self.tx.execute(&statement, params)?)
    }

    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let statement = super::prepared(self.statements, &mut self.tx, sql)?;
        Ok(self.tx.query(&statement, params)?)
    }

    fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// `unnest($1::text[], ..., $N::text[]) AS u(<names>)`.
fn unnest(names: &str) -> String {
    let count = names.split(',').count();
    let arrays: Vec<String> = (1..=count).map(|i| format!("${i}::text[]")).collect();
    format!("unnest({}) AS u({names})", arrays.join(", "))
}

const UPSERT_DATASETS: &str = "ON CONFLICT (namespace, name) DO UPDATE SET
    alias = COALESCE(excluded.alias, datasets.alias),
    updated_at = GREATEST(datasets.updated_at, excluded.updated_at)";

const UPSERT_RUNS: &str = "ON CONFLICT (run_id) DO UPDATE SET
    state = CASE WHEN excluded.state <> 'OTHER' AND (runs.state = 'OTHER' OR excluded.updated_at >= runs.updated_at)
      THEN excluded.state ELSE runs.state END,
    started_at = COALESCE(runs.started_at, excluded.started_at),
    ended_at = COALESCE(excluded.ended_at, runs.ended_at),
    updated_at = GREATEST(runs.updated_at, excluded.updated_at)
  WHERE runs.job_namespace = excluded.job_namespace AND runs.job_name = excluded.job_name
  RETURNING run_id, job_namespace, job_name";

/// Rows for an upsert that may name the same row more than once: PostgreSQL refuses to update a
/// row twice in one statement, so the n-th occurrence of each key goes in the n-th round, which
/// applies the updates in their order as SQLite does one by one.
struct Rounds<const N: usize> {
    rounds: Vec<Columns<N>>,
    seen: HashMap<Vec<String>, usize>,
    key_columns: usize,
}

impl<const N: usize> Rounds<N> {
    fn new(key_columns: usize) -> Rounds<N> {
        Rounds {
            rounds: Vec::new(),
            seen: HashMap::new(),
            key_columns,
        }
    }

    fn push(&mut self, row: [Option<&str>; N]) {
        let key: Vec<String> = row[..self.key_columns]
            .iter()
            .map(|v| v.unwrap_or("").to_owned())
            .collect();
        let round = self.seen.entry(key).or_insert(0);
        if self.rounds.len() <= *round {
            self.rounds.push(Columns::new());
        }
        self.rounds[*round].push(row);
        *round += 1;
    }
}

fn upsert_datasets(tx: &mut Tx<'_, '_>, rounds: Rounds<4>) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO datasets (namespace, name, alias, created_at, updated_at)
         SELECT ns, n, a, t, t FROM {} {UPSERT_DATASETS}",
        unnest("ns, n, a, t")
    );
    for round in rounds.rounds {
        tx.execute(&sql, &round.params())?;
    }
    Ok(())
}

impl PgStore {
    pub(crate) fn ingest_received(
        &mut self,
        events: &[(&Received, &str)],
    ) -> Result<Ingested, StoreError> {
        self.reconnect_if_closed()?;
        let entries: Vec<(Entry<'_>, &str)> = events
            .iter()
            .map(|(event, payload)| (Entry::received(event), *payload))
            .collect();
        let mut client = self.client.borrow_mut();
        let mut tx = Tx {
            tx: client.as_mut().expect("connected").transaction()?,
            statements: &self.statements,
        };
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INGEST_LOCK])?;
        let ingested = ingest(&mut tx, entries)?;
        tx.tx.commit()?;
        Ok(ingested)
    }
}

/// The columns `events` records of an entry: key, run id, type, time, job namespace and name.
fn event_row<'e>(entry: &'e Entry<'_>) -> (String, [&'e str; 5]) {
    match entry {
        Entry::Run {
            head,
            key,
            event_type,
        } => (
            head.run.run_id.to_string(),
            [
                key.as_ref(),
                event_type,
                head.event_time.as_str(),
                head.job.namespace.as_str(),
                head.job.name.as_str(),
            ],
        ),
        Entry::Dataset { key, time, .. } => (String::new(), [key, "", time, "", ""]),
        Entry::Job { key, time, job, .. } => (
            String::new(),
            [key, "", time, job.namespace.as_str(), job.name.as_str()],
        ),
    }
}

/// The run an event reports and the job that would own it.
fn owner(head: &EventHead) -> (String, String, String) {
    (
        head.run.run_id.to_string(),
        head.job.namespace.clone(),
        head.job.name.clone(),
    )
}

fn ingest(tx: &mut Tx<'_, '_>, entries: Vec<(Entry<'_>, &str)>) -> Result<Ingested, StoreError> {
    let mut ingested = Ingested::default();
    let mut rows = Columns::<7>::new();
    for (entry, payload) in &entries {
        let (run_id, [key, kind, time, namespace, name]) = event_row(entry);
        rows.push([
            Some(key),
            Some(&run_id),
            Some(kind),
            Some(time),
            Some(namespace),
            Some(name),
            Some(payload),
        ]);
    }
    let inserted = tx.query(
        &format!(
            "INSERT INTO events (key, run_id, event_type, event_time, job_namespace, job_name, payload)
             SELECT k, r, ty, t, ns, n, p FROM {} ON CONFLICT (key) DO NOTHING RETURNING key",
            unnest("k, r, ty, t, ns, n, p")
        ),
        &rows.params(),
    )?;
    let mut new: HashSet<String> = inserted.iter().map(|row| row.get(0)).collect();
    let mut times = Columns::<2>::new();
    let mut appear = Columns::<7>::new();
    // An event naming a dataset twice in one role appears once.
    let mut appeared = HashSet::new();
    let mut runs = Rounds::<5>::new(1);
    let mut claims: Vec<Option<(String, String, String)>> = Vec::new();
    let mut fresh: Vec<&EventHead> = Vec::new();
    let mut statics = Vec::new();
    let mut tagged = Vec::new();
    for (entry, payload) in &entries {
        let (_, [key, _, time, _, _]) = event_row(entry);
        // The first of a key in the batch is the one inserted; the rest are duplicates.
        if !new.remove(key) {
            ingested.duplicate += 1;
            continue;
        }
        ingested.new += 1;
        let at = normalized_time(time);
        times.push([Some(&at), Some(key)]);
        // Its run id is kept once the runs' upsert says whose run it is.
        let claim = match entry {
            Entry::Run { head, .. } => Some(owner(head)),
            _ => None,
        };
        for (kind, namespace, name, role, run_id) in appearances(entry, true) {
            if !appeared.insert((kind, namespace, name, key, role)) {
                continue;
            }
            claims.push(claim.clone());
            appear.push([
                Some(kind),
                Some(namespace),
                Some(name),
                Some(&at),
                Some(key),
                Some(role),
                run_id.as_deref(),
            ]);
        }
        tagged.push(Tagged {
            at,
            payload,
            datasets: entry.datasets(),
        });
        match entry {
            Entry::Run { head, .. } => {
                let run_id = head.run.run_id.to_string();
                runs.push([
                    Some(&run_id),
                    Some(&head.job.namespace),
                    Some(&head.job.name),
                    Some(head.event_type.as_str()),
                    Some(&head.event_time),
                ]);
                fresh.push(head);
            }
            other => statics.push(other),
        }
    }
    if !times.is_empty() {
        tx.execute(
            &format!(
                "INSERT INTO event_times (at, key) SELECT at, k FROM {}",
                unnest("at, k")
            ),
            &times.params(),
        )?;
    }
    // OTHER (and a RunEvent without a type) adds to a run without changing its state.
    let upsert_runs = format!(
        "INSERT INTO runs (run_id, job_namespace, job_name, state, started_at, ended_at, updated_at)
         SELECT r, ns, n, s, CASE WHEN s = 'START' THEN t END,
           CASE WHEN s IN ('COMPLETE', 'FAIL', 'ABORT') THEN t END, t
         FROM {} {UPSERT_RUNS}",
        unnest("r, ns, n, s, t")
    );
    // A run belongs to the job that first reported it: an event of another job with its id is
    // stored, but changes neither the run (the upsert's WHERE) nor that job.
    let mut owned: HashSet<(String, String, String)> = HashSet::new();
    for round in &runs.rounds {
        for row in tx.query(&upsert_runs, &round.params())? {
            owned.insert((row.get(0), row.get(1), row.get(2)));
        }
    }
    fresh.retain(|head| owned.contains(&owner(head)));
    // As store.rs's `appearances`: an event of a run its job does not own names no run.
    for (run_id, claim) in appear.columns[6].iter_mut().zip(&claims) {
        if claim.as_ref().is_some_and(|claim| !owned.contains(claim)) {
            *run_id = None;
        }
    }
    if !appear.is_empty() {
        tx.execute(
            &format!(
                "INSERT INTO appearances (kind, namespace, name, at, event_key, role, run_id)
                 SELECT ki, ns, n, at, k, ro, r FROM {}",
                unnest("ki, ns, n, at, k, ro, r")
            ),
            &appear.params(),
        )?;
    }
    for entry in statics {
        match entry {
            Entry::Dataset { time, dataset, .. } => {
                let mut rounds = Rounds::new(2);
                rounds.push([
                    Some(&dataset.namespace),
                    Some(&dataset.name),
                    dataset.alias(),
                    Some(time),
                ]);
                upsert_datasets(tx, rounds)?;
            }
            Entry::Job {
                time,
                job,
                inputs,
                outputs,
                ..
            } => static_job(tx, time, job, inputs, outputs)?,
            Entry::Run { .. } => {}
        }
    }
    update_jobs(tx, &fresh)?;
    replace_tags(tx, newest_tags(tagged))?;
    Ok(ingested)
}

/// A JobEvent: the job is recorded (without a run), and the inputs and outputs it declares
/// become its own unless a newer event of the job is known.
fn static_job(
    tx: &mut Tx<'_, '_>,
    time: &str,
    job: &JobHead,
    inputs: &[DatasetHead],
    outputs: &[DatasetHead],
) -> Result<(), StoreError> {
    let latest = tx.query_opt(
        "SELECT last_time FROM jobs WHERE namespace = $1 AND name = $2",
        &[&job.namespace, &job.name],
    )?;
    if latest.is_some_and(|row| row.get::<_, String>(0).as_str() > time) {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO jobs (namespace, name, last_run_id, last_state, last_time, created_at, streaming)
         VALUES ($1, $2, '', '', $3, $3, $4)
         ON CONFLICT (namespace, name) DO UPDATE SET last_time = excluded.last_time,
           streaming = excluded.streaming",
        &[&job.namespace, &job.name, &time, &job.streaming()],
    )?;
    if inputs.is_empty() && outputs.is_empty() {
        return Ok(());
    }
    tx.execute(
        "DELETE FROM job_io WHERE job_namespace = $1 AND job_name = $2",
        &[&job.namespace, &job.name],
    )?;
    let mut datasets = Rounds::new(2);
    let mut io = Io::new();
    for (direction, dataset) in roles(inputs, outputs) {
        datasets.push([
            Some(&dataset.namespace),
            Some(&dataset.name),
            dataset.alias(),
            Some(time),
        ]);
        io.push([
            &job.namespace,
            &job.name,
            &dataset.namespace,
            &dataset.name,
            direction,
        ]);
    }
    upsert_datasets(tx, datasets)?;
    insert_io(tx, &io)
}

/// `job_io` rows, each once: a run's START and COMPLETE name the same inputs and outputs, and a
/// row sent twice costs the server a conflict check for nothing.
struct Io<'a> {
    rows: Columns<5>,
    seen: HashSet<[&'a str; 5]>,
}

impl<'a> Io<'a> {
    fn new() -> Io<'a> {
        Io {
            rows: Columns::new(),
            seen: HashSet::new(),
        }
    }

    fn push(&mut self, row: [&'a str; 5]) {
        if self.seen.insert(row) {
            self.rows.push(row.map(Some));
        }
    }
}

fn insert_io(tx: &mut Tx<'_, '_>, io: &Io<'_>) -> Result<(), StoreError> {
    let io = &io.rows;
    if io.is_empty() {
        return Ok(());
    }
    tx.execute(
        &format!(
            "INSERT INTO job_io (job_namespace, job_name, dataset_namespace, dataset_name, direction)
             SELECT jns, jn, dns, dn, d FROM {} ON CONFLICT DO NOTHING",
            unnest("jns, jn, dns, dn, d")
        ),
        &io.params(),
    )?;
    Ok(())
}

/// Moves each job of `events` to its newest run, as the SQLite store does (see its
/// `update_jobs`): the jobs' current rows are read at once, and written back as arrays.
fn update_jobs(tx: &mut Tx<'_, '_>, events: &[&EventHead]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let (newest, by_run) = newest_runs(events);
    let mut names = Columns::<2>::new();
    for (namespace, name) in newest.keys() {
        names.push([Some(namespace), Some(name)]);
    }
    let current: HashMap<(String, String), (String, String)> = tx
        .query(
            &format!(
                "SELECT j.namespace, j.name, j.last_time, j.last_run_id FROM jobs j
                 JOIN {} ON j.namespace = u.ns AND j.name = u.n",
                unnest("ns, n")
            ),
            &names.params(),
        )?
        .iter()
        .map(|row| ((row.get(0), row.get(1)), (row.get(2), row.get(3))))
        .collect();
    let mut jobs = Columns::<5>::new();
    let mut streaming: Vec<bool> = Vec::new();
    let mut clear = Columns::<2>::new();
    let mut io = Io::new();
    let mut datasets = Rounds::<4>::new(2);
    let mut datasets_seen = HashSet::new();
    for ((namespace, name), event) in newest {
        let run_id = event.run.run_id.to_string();
        let latest = current.get(&(namespace.to_owned(), name.to_owned()));
        if latest.is_some_and(|(time, _)| time.as_str() > event.event_time.as_str()) {
            continue;
        }
        jobs.push([
            Some(namespace),
            Some(name),
            Some(&run_id),
            Some(event.event_type.as_str()),
            Some(&event.event_time),
        ]);
        streaming.push(event.job.streaming());
        let run_events = &by_run[&event.run.run_id];
        if run_events
            .iter()
            .all(|e| e.inputs.is_empty() && e.outputs.is_empty())
        {
            continue;
        }
        if latest.is_some_and(|(_, latest_run)| *latest_run != run_id) {
            clear.push([Some(namespace), Some(name)]);
        }
        for run_event in run_events {
            for (direction, dataset) in roles(&run_event.inputs, &run_event.outputs) {
                let alias = dataset.alias();
                if datasets_seen.insert((&dataset.namespace, &dataset.name, alias)) {
                    datasets.push([
                        Some(&dataset.namespace),
                        Some(&dataset.name),
                        alias,
                        Some(&run_event.event_time),
                    ]);
                }
                io.push([
                    namespace,
                    name,
                    &dataset.namespace,
                    &dataset.name,
                    direction,
                ]);
            }
        }
    }
    if !jobs.is_empty() {
        let mut params = jobs.params();
        params.push(&streaming);
        tx.execute(
            "INSERT INTO jobs (namespace, name, last_run_id, last_state, last_time, created_at, streaming)
             SELECT ns, n, r, s, t, t, st
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[])
               AS u(ns, n, r, s, t, st)
             ON CONFLICT (namespace, name) DO UPDATE SET last_run_id = excluded.last_run_id,
               last_state = CASE WHEN excluded.last_state = 'OTHER' AND jobs.last_run_id = excluded.last_run_id
                 THEN jobs.last_state ELSE excluded.last_state END,
               last_time = excluded.last_time,
               streaming = excluded.streaming",
            &params,
        )?;
    }
    if !clear.is_empty() {
        tx.execute(
            &format!(
                "DELETE FROM job_io io USING {} WHERE io.job_namespace = u.ns AND io.job_name = u.n",
                unnest("ns, n")
            ),
            &clear.params(),
        )?;
    }
    upsert_datasets(tx, datasets)?;
    insert_io(tx, &io)
}

/// A dataset's tags become those of its newest `tags` facet, as in the SQLite store's
/// `replace_tags`: the stored tags of the batch's datasets are read at once.
fn replace_tags(tx: &mut Tx<'_, '_>, tags: BatchTags) -> Result<(), StoreError> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut names = Columns::<2>::new();
    for (namespace, name) in tags.keys() {
        names.push([Some(namespace), Some(name)]);
    }
    // Each dataset's stored (field, tag) pairs, in order, and the newest time among them.
    let mut stored: HashMap<(String, String), (crate::event::Tags, String)> = HashMap::new();
    for row in tx.query(
        &format!(
            "SELECT t.namespace, t.name, t.field, t.tag, t.at FROM dataset_tags t
             JOIN {} ON t.namespace = u.ns AND t.name = u.n
             ORDER BY t.namespace, t.name, t.field, t.tag",
            unnest("ns, n")
        ),
        &names.params(),
    )? {
        let entry = stored
            .entry((row.get(0), row.get(1)))
            .or_insert_with(|| (Vec::new(), String::new()));
        entry.0.push((row.get(2), row.get(3)));
        let at: String = row.get(4);
        if at > entry.1 {
            entry.1 = at;
        }
    }
    let (mut touch, mut clear, mut insert) = (
        Columns::<3>::new(),
        Columns::<2>::new(),
        Columns::<5>::new(),
    );
    for ((namespace, name), (at, mut found)) in tags {
        let (current, newest) = stored
            .remove(&(namespace.clone(), name.clone()))
            .unwrap_or_else(|| (Vec::new(), String::new()));
        if !current.is_empty() && newest.as_str() > at.as_str() {
            continue;
        }
        found.sort();
        found.dedup();
        if !current.is_empty() && current == found {
            touch.push([Some(&namespace), Some(&name), Some(&at)]);
            continue;
        }
        if !current.is_empty() {
            clear.push([Some(&namespace), Some(&name)]);
        }
        for (field, tag) in &found {
            insert.push([
                Some(&namespace),
                Some(&name),
                Some(field),
                Some(tag),
                Some(&at),
            ]);
        }
    }
    if !touch.is_empty() {
        tx.execute(
            &format!(
                "UPDATE dataset_tags t SET at = u.at FROM {} WHERE t.namespace = u.ns AND t.name = u.n",
                unnest("ns, n, at")
            ),
            &touch.params(),
        )?;
    }
    if !clear.is_empty() {
        tx.execute(
            &format!(
                "DELETE FROM dataset_tags t USING {} WHERE t.namespace = u.ns AND t.name = u.n",
                unnest("ns, n")
            ),
            &clear.params(),
        )?;
    }
    if !insert.is_empty() {
        tx.execute(
            &format!(
                "INSERT INTO dataset_tags (namespace, name, field, tag, at)
                 SELECT ns, n, f, tg, at FROM {} ON CONFLICT DO NOTHING",
                unnest("ns, n, f, tg, at")
            ),
            &insert.params(),
        )?;
    }
    Ok(())
}
