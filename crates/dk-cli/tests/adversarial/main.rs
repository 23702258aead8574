//! One case per defect an attacker found (issue "Security hardening"): crafted archives, a
//! registry that lies, GitOps repositories with symlinked folders, alias bombs, special files,
//! leaked secrets. Each module is named after the defect it reproduces; each case failed before
//! its fix.

#[path = "../common/mod.rs"]
mod common;

mod d09_side_doors;
mod d10_spool_fifo;
mod d11_lineage_serve;
mod d13_dev_down;
