//! Where `dk lineage serve` keeps its store: a SQLite file (one machine) or a PostgreSQL database
//! (a team server, several replicas). Both answer the same reads with the same SQL semantics:
//! the server, its UI and `dk lineage` see one interface, [`Lineage`].

use std::path::PathBuf;

use serde_json::Value;

use crate::catalog::{
    DatasetRecord, EventQuery, Facets, Found, JobRecord, Name, NamespaceRecord, Page, RunRecord,
    SearchQuery, VersionRecord,
};
use crate::event::Received;
use crate::governance::PiiFlows;
use crate::graph::{Direction, Neighbourhood, NodeKind};
use crate::pg::{PgStore, PgUrl};
use crate::store::{EventCache, Ingested, LineageStore, StoreError};

/// A lineage store: `lineage.store` (or `DK_LINEAGE_STORE`), else the local SQLite file.
#[derive(Debug, Clone)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(Box<PgUrl>),
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Location {
        Location::Sqlite(path)
    }
}

impl std::fmt::Display for Location {
    /// Never with a password: what a user may see of the store.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => write!(f, "{url}"),
        }
    }
}

/// Opens (creating, migrating) the store. Blocking: call it off the async threads.
pub fn open(location: &Location) -> Result<Box<dyn Lineage>, StoreError> {
    Ok(match location {
        Location::Sqlite(path) => Box::new(LineageStore::open(path)?),
        Location::Postgres(url) => Box::new(PgStore::connect(url)?),
    })
}

/// What the server, its UI and `dk lineage` read and write.
pub trait Lineage: Send {
    /// Ingests events received from outside in one transaction; those already present (by
    /// [`Received::key`]) are skipped.
    fn ingest(&mut self, events: &[(&Received, &str)]) -> Result<Ingested, StoreError>;
    fn namespaces(&self, limit: usize, offset: usize) -> Result<Page<NamespaceRecord>, StoreError>;
    fn namespace(&self, name: &str) -> Result<Option<NamespaceRecord>, StoreError>;
    fn jobs(
        &self,
        namespace: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<JobRecord>, StoreError>;
    fn job(&self, namespace: &str, name: &str) -> Result<Option<JobRecord>, StoreError>;
    fn datasets(
        &self,
        namespace: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<DatasetRecord>, StoreError>;
    fn dataset(&self, namespace: &str, name: &str) -> Result<Option<DatasetRecord>, StoreError>;
    /// Every job or dataset `query` names (see [`LineageStore::neighbourhood`]).
    fn neighbourhood(
        &self,
        query: &str,
        direction: Direction,
        depth: usize,
    ) -> Result<Vec<Neighbourhood>, StoreError>;
    fn neighbourhood_of(
        &self,
        kind: NodeKind,
        namespace: &str,
        name: &str,
        direction: Direction,
        depth: usize,
    ) -> Result<Option<Neighbourhood>, StoreError>;
    fn labels(&self) -> Result<Vec<String>, StoreError>;
    fn job_facets(&self, namespace: &str, name: &str) -> Result<Facets, StoreError>;
    fn dataset_facets(&self, namespace: &str, name: &str) -> Result<Facets, StoreError>;
    fn run_facets(&self, run_id: &str) -> Result<Facets, StoreError>;
    fn job_runs(
        &self,
        namespace: &str,
        name: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<RunRecord>, StoreError>;
    fn run(&self, run_id: &str) -> Result<Option<(Name, RunRecord)>, StoreError>;
    fn dataset_versions(
        &self,
        namespace: &str,
        name: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<VersionRecord>, StoreError>;
    fn version_facets(
        &self,
        namespace: &str,
        name: &str,
        version: &VersionRecord,
    ) -> Result<Facets, StoreError>;
    fn tags(&self, limit: usize, offset: usize) -> Result<Page<String>, StoreError>;
    fn sources(&self, limit: usize, offset: usize) -> Result<Page<NamespaceRecord>, StoreError>;
    fn search(&self, query: &SearchQuery) -> Result<Page<Found>, StoreError>;
    fn events_by_time(&self, query: &EventQuery) -> Result<Page<Value>, StoreError>;
    fn pii_flows(&self, limit: usize) -> Result<PiiFlows, StoreError>;
    /// How many fields of a dataset its latest tags mark PII, and its classification.
    fn badges(&self, namespace: &str, name: &str) -> Result<(usize, Option<String>), StoreError>;
    /// How many events the store holds.
    fn event_count(&self) -> Result<usize, StoreError>;
    /// The cache [`sharing_events`] turns on.
    fn event_cache(&self) -> &EventCache;
}

/// Runs `read` with the events it parses kept for its duration: for reads that render many
/// nodes (a lineage graph), whose events are often shared.
pub fn sharing_events<T>(store: &dyn Lineage, read: impl FnOnce(&dyn Lineage) -> T) -> T {
    store.event_cache().share(true);
    let result = read(store);
    store.event_cache().share(false);
    result
}

impl Lineage for LineageStore {
    fn ingest(&mut self, events: &[(&Received, &str)]) -> Result<Ingested, StoreError> {
        self.ingest_received(events.iter().copied())
    }
    fn namespaces(&self, limit: usize, offset: usize) -> Result<Page<NamespaceRecord>, StoreError> {
        LineageStore::namespaces(self, limit, offset)
    }
    fn namespace(&self, name: &str) -> Result<Option<NamespaceRecord>, StoreError> {
        LineageStore::namespace(self, name)
    }
    fn jobs(
        &self,
        namespace: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<JobRecord>, StoreError> {
        LineageStore::jobs(self, namespace, limit, offset)
    }
    fn job(&self, namespace: &str, name: &str) -> Result<Option<JobRecord>, StoreError> {
        LineageStore::job(self, namespace, name)
    }
    fn datasets(
        &self,
        namespace: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<DatasetRecord>, StoreError> {
        LineageStore::datasets(self, namespace, limit, offset)
    }
    fn dataset(&self, namespace: &str, name: &str) -> Result<Option<DatasetRecord>, StoreError> {
        LineageStore::dataset(self, namespace, name)
    }
    fn neighbourhood(
        &self,
        query: &str,
        direction: Direction,
        depth: usize,
    ) -> Result<Vec<Neighbourhood>, StoreError> {
        LineageStore::neighbourhood(self, query, direction, depth)
    }
    fn neighbourhood_of(
        &self,
        kind: NodeKind,
        namespace: &str,
        name: &str,
        direction: Direction,
        depth: usize,
    ) -> Result<Option<Neighbourhood>, StoreError> {
        LineageStore::neighbourhood_of(self, kind, namespace, name, direction, depth)
    }
    fn labels(&self) -> Result<Vec<String>, StoreError> {
        LineageStore::labels(self)
    }
    fn job_facets(&self, namespace: &str, name: &str) -> Result<Facets, StoreError> {
        LineageStore::job_facets(self, namespace, name)
    }
    fn dataset_facets(&self, namespace: &str, name: &str) -> Result<Facets, StoreError> {
        LineageStore::dataset_facets(self, namespace, name)
    }
    fn run_facets(&self, run_id: &str) -> Result<Facets, StoreError> {
        LineageStore::run_facets(self, run_id)
    }
    fn job_runs(
        &self,
        namespace: &str,
        name: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<RunRecord>, StoreError> {
        LineageStore::job_runs(self, namespace, name, limit, offset)
    }
    fn run(&self, run_id: &str) -> Result<Option<(Name, RunRecord)>, StoreError> {
        LineageStore::run(self, run_id)
    }
    fn dataset_versions(
        &self,
        namespace: &str,
        name: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<VersionRecord>, StoreError> {
        LineageStore::dataset_versions(self, namespace, name, limit, offset)
    }
    fn version_facets(
        &self,
        namespace: &str,
        name: &str,
        version: &VersionRecord,
    ) -> Result<Facets, StoreError> {
        LineageStore::version_facets(self, namespace, name, version)
    }
    fn tags(&self, limit: usize, offset: usize) -> Result<Page<String>, StoreError> {
        LineageStore::tags(self, limit, offset)
    }
    fn sources(&self, limit: usize, offset: usize) -> Result<Page<NamespaceRecord>, StoreError> {
        LineageStore::sources(self, limit, offset)
    }
    fn search(&self, query: &SearchQuery) -> Result<Page<Found>, StoreError> {
        LineageStore::search(self, query)
    }
    fn events_by_time(&self, query: &EventQuery) -> Result<Page<Value>, StoreError> {
        LineageStore::events_by_time(self, query)
    }
    fn pii_flows(&self, limit: usize) -> Result<PiiFlows, StoreError> {
        LineageStore::pii_flows(self, limit)
    }
    fn badges(&self, namespace: &str, name: &str) -> Result<(usize, Option<String>), StoreError> {
        crate::ui::badges(self, namespace, name)
    }
    fn event_count(&self) -> Result<usize, StoreError> {
        let count: i64 = self
            .connection
            .query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))?;
        Ok(count as usize)
    }
    fn event_cache(&self) -> &EventCache {
        &self.parsed
    }
}
