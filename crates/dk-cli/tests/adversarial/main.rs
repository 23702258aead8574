//! One case per defect an attacker found (issue "Security hardening"): crafted archives, a
//! registry that lies, GitOps repositories with symlinked folders, alias bombs, special files,
//! leaked secrets. Each module is named after the defect it reproduces; each case failed before
//! its fix.

#[path = "../common/mod.rs"]
mod common;

mod d01_link_chain;
mod d02_gitops_symlinks;
mod d03_alias_bombs;
mod d04_lying_registry;
mod d05_credentials;
mod d06_names;
mod d06_promote_args;
mod d06_references;
mod d07_immutability;
mod d08_connection_keys;
mod d09_forge_errors;
mod d09_registry_password;
mod d09_side_doors;
mod d10_special_files;
mod d10_spool_fifo;
mod d11_lineage_serve;
mod d12_forge;
mod d13_dev_down;
