//! The local dev stack behind `dk dev up|status|down`: a catalogue of services (Kafka protocol,
//! S3, PostgreSQL, lineage) on fixed loopback ports, and the runtimes that run them. The native
//! runtime runs local processes under `$DK_HOME/dev/` and needs no Docker; the compose runtime
//! runs the FAQ's containers.

pub mod catalog;
pub mod compose;
pub mod native;
pub mod ports;
pub mod probe;
pub mod stack;
pub mod status;
