//! Code shared by the operator-asset tests (tests/ops_*.rs): repository files, YAML and
//! JSON loading, and the metric and label names PromQL expressions use.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub mod assets;
pub mod compose;
pub mod prometheus;
pub mod promql;

/// A path inside the repository.
pub fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The text of a repository file.
pub fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_file(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// A repository YAML file as a generic value, with `<<:` merge keys applied.
pub fn yaml(relative: &str) -> serde_json::Value {
    let mut value: serde_norway::Value =
        serde_norway::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"));
    value
        .apply_merge()
        .unwrap_or_else(|e| panic!("{relative}: {e}"));
    serde_json::to_value(value).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// A repository JSON file.
pub fn json(relative: &str) -> serde_json::Value {
    serde_json::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}
