//! What the store knows of namespaces, jobs and datasets, for listings (the Marquez-compatible
//! API of `dk lineage serve`).

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use crate::graph::{self, Direction, Neighbourhood, NodeKind};
use crate::store::{LineageStore, StoreError};

/// A namespace: one of jobs or datasets, with the times of its first and latest events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceRecord {
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A `namespace` and `name` pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Name {
    pub namespace: String,
    pub name: String,
}

/// A run as the store last saw it; `state` is the OpenLineage event type that set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub state: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub updated_at: String,
}

/// A job as of its latest run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRecord {
    pub namespace: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
    pub streaming: bool,
    pub inputs: Vec<Name>,
    pub outputs: Vec<Name>,
    pub latest_run: Option<RunRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasetRecord {
    pub namespace: String,
    pub name: String,
    /// The DataSet manifest name.
    pub alias: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// One page of a listing and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: usize,
}

fn dataset_record(row: &Row<'_>) -> rusqlite::Result<DatasetRecord> {
    Ok(DatasetRecord {
        namespace: row.get(0)?,
        name: row.get(1)?,
        alias: row.get(2)?,
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
    })
}

impl LineageStore {
    pub fn namespaces(&self) -> Result<Vec<NamespaceRecord>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT namespace, MIN(created_at), MAX(updated_at) FROM (
               SELECT namespace, created_at, last_time AS updated_at FROM jobs
               UNION ALL SELECT namespace, created_at, updated_at FROM datasets)
             GROUP BY namespace ORDER BY namespace",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(NamespaceRecord {
                name: row.get(0)?,
                created_at: row.get(1)?,
                updated_at: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The jobs of a namespace, by name.
    pub fn jobs(
        &self,
        namespace: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<JobRecord>, StoreError> {
        let total: i64 = self.connection.query_row(
            "SELECT COUNT(*) FROM jobs WHERE namespace = ?1",
            params![namespace],
            |row| row.get(0),
        )?;
        let names: Vec<String> = self
            .connection
            .prepare_cached(
                "SELECT name FROM jobs WHERE namespace = ?1 ORDER BY name LIMIT ?2 OFFSET ?3",
            )?
            .query_map(params![namespace, limit as i64, offset as i64], |row| {
                row.get(0)
            })?
            .collect::<Result<_, _>>()?;
        let mut items = Vec::with_capacity(names.len());
        for name in names {
            items.extend(self.job(namespace, &name)?);
        }
        Ok(Page {
            items,
            total: total as usize,
        })
    }

    pub fn job(&self, namespace: &str, name: &str) -> Result<Option<JobRecord>, StoreError> {
        let found = self
            .connection
            .prepare_cached(
                "SELECT created_at, last_time, streaming, last_run_id FROM jobs WHERE namespace = ?1 AND name = ?2",
            )?
            .query_row(params![namespace, name], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, bool>(2)?, row.get::<_, String>(3)?))
            })
            .optional()?;
        let Some((created_at, updated_at, streaming, run_id)) = found else {
            return Ok(None);
        };
        let mut io = self.connection.prepare_cached(
            "SELECT dataset_namespace, dataset_name FROM job_io
             WHERE job_namespace = ?1 AND job_name = ?2 AND direction = ?3
             ORDER BY dataset_namespace, dataset_name",
        )?;
        let mut datasets = |direction: &str| -> Result<Vec<Name>, StoreError> {
            let rows = io.query_map(params![namespace, name, direction], |row| {
                Ok(Name {
                    namespace: row.get(0)?,
                    name: row.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        let (inputs, outputs) = (datasets("input")?, datasets("output")?);
        let latest_run = self
            .connection
            .prepare_cached(
                "SELECT state, started_at, ended_at, updated_at FROM runs WHERE run_id = ?1",
            )?
            .query_row(params![run_id], |row| {
                Ok(RunRecord {
                    id: run_id.clone(),
                    state: row.get(0)?,
                    started_at: row.get(1)?,
                    ended_at: row.get(2)?,
                    updated_at: row.get(3)?,
                })
            })
            .optional()?;
        Ok(Some(JobRecord {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            created_at,
            updated_at,
            streaming,
            inputs,
            outputs,
            latest_run,
        }))
    }

    /// The datasets of a namespace, by name.
    pub fn datasets(
        &self,
        namespace: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Page<DatasetRecord>, StoreError> {
        let total: i64 = self.connection.query_row(
            "SELECT COUNT(*) FROM datasets WHERE namespace = ?1",
            params![namespace],
            |row| row.get(0),
        )?;
        let items = self
            .connection
            .prepare_cached(
                "SELECT namespace, name, alias, created_at, updated_at FROM datasets
                 WHERE namespace = ?1 ORDER BY name LIMIT ?2 OFFSET ?3",
            )?
            .query_map(
                params![namespace, limit as i64, offset as i64],
                dataset_record,
            )?
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total: total as usize,
        })
    }

    pub fn dataset(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<DatasetRecord>, StoreError> {
        Ok(self
            .connection
            .prepare_cached(
                "SELECT namespace, name, alias, created_at, updated_at FROM datasets WHERE namespace = ?1 AND name = ?2",
            )?
            .query_row(params![namespace, name], dataset_record)
            .optional()?)
    }

    /// The neighbourhood of one job or dataset, named exactly; `None` when it is not recorded.
    pub fn neighbourhood_of(
        &self,
        kind: NodeKind,
        namespace: &str,
        name: &str,
        direction: Direction,
        depth: usize,
    ) -> Result<Option<Neighbourhood>, StoreError> {
        match graph::node(&self.connection, kind, namespace, name)? {
            Some(root) => Ok(Some(graph::around(
                &self.connection,
                &root,
                direction,
                depth,
            )?)),
            None => Ok(None),
        }
    }
}
