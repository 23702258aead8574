//! Lineage for dk: OpenLineage 2-0-2 run events with the facets of DESIGN §5, dataset naming
//! after the OpenLineage conventions, the on-disk spool every event is written to first, delivery
//! to lineage backends, and the local SQLite lineage store behind `dk lineage`.

pub mod backend;
pub mod background;
pub mod catalog;
pub mod commit;
pub mod deliver;
pub mod emit;
pub mod event;
pub mod governance;
pub mod graph;
pub mod inbox;
pub mod migrate;
pub mod naming;
pub mod pg;
mod private;
#[cfg(test)]
mod query_plans;
pub mod remote;
pub mod run;
pub mod server;
pub mod source;
pub mod spool;
pub mod store;
pub mod ui;
