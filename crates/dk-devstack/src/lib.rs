//! The local dev stack behind `dk dev up|status|down`: a catalogue of services (Kafka protocol,
//! S3, PostgreSQL, lineage) on fixed loopback ports, and the runtimes that run them. The native
//! runtime runs local processes under `$DK_HOME/dev/` and needs no Docker; the compose runtime
//! runs the FAQ's containers; the k3d runtime runs them on a local Kubernetes cluster from
//! embedded Helm charts.

pub mod catalog;
pub mod compose;
pub mod doctor;
pub mod k3d;
pub mod native;
pub mod ports;
pub mod probe;
mod process;
pub mod s3;
pub mod stack;
pub mod status;
