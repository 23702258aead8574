//! `dk run`: resolves a package's DataSets to their stores, gives the pipeline the runtime
//! contract (DESIGN §4), runs it with the local or Docker executor under supervision (timeout,
//! signals, exit codes), seeds development data, and records the run's lineage.

pub mod contract;
pub mod dbt_lineage;
pub mod doctor;
pub mod exec;
pub mod overrides;
pub mod plan;
pub mod process;
pub mod recover;
pub mod run;
pub mod runner;
pub mod schedule;
pub mod seed;

/// The largest package file a run reads (`requirements.txt`, `cloudquery.yaml`, seed rows):
/// far above any real one, and a bound on what a file linked to `/dev/zero` can cost.
const PACKAGE_FILE_LIMIT: u64 = 64 << 20;
