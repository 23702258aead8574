//! DataKit manifests.
//!
//! This crate is the base of dk: it knows the manifest kinds (Transform, DataSet, DataSetGroup,
//! Store, Connector), reads them from YAML with exact `file:line:column` positions, discovers the
//! packages of a project, resolves names (Transform → DataSet → Store → Connector) and applies
//! `-f`/`--set` overrides in memory. It never writes a user's manifest (it updates only the
//! manifests `dk init --from-dbt` generated, in the `dk-sql` crate) and never prints.

pub mod authoring;
pub mod dbt_project;
pub mod discover;
pub mod graph;
pub mod load;
pub mod model;
pub mod overrides;
pub mod resolve;
pub mod scaffold;
pub mod suggest;
pub mod units;
pub mod yaml;
