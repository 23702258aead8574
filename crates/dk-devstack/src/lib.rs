//! The local dev stack behind `dk dev up|status|down`: a catalogue of services (Kafka protocol,
//! S3, PostgreSQL, lineage) on fixed loopback ports, and the runtimes that run them. The native
//! runtime runs local processes under `$DK_HOME/dev/`; it needs no Docker.

pub mod catalog;
pub mod native;
pub mod ports;
pub mod probe;
