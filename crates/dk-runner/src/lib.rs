//! `dk run`: resolves a package's DataSets to their stores, gives the pipeline the runtime
//! contract (DESIGN §4), runs it with the local or Docker executor under supervision (timeout,
//! signals, exit codes), seeds development data, and records the run's lineage.

pub mod contract;
pub mod exec;
pub mod plan;
pub mod process;
pub mod run;
pub mod seed;
