//! The metrics catalogue in README.md is generated from the declarations in src/telemetry.rs
//! (`omsd::telemetry::CATALOGUE`), and every metric is declared through the `metrics!` block.
//! `OMSD_BLESS=1 cargo test --test ops_catalogue` rewrites the README table.

mod ops;

use omsd::telemetry::{CATALOGUE, catalogue};

#[test]
fn readme_metrics_catalogue_is_generated_from_the_declarations() {
    let path = ops::repo_file("README.md");
    let readme = ops::read("README.md");
    let table = catalogue::markdown_table(CATALOGUE);
    let expected = catalogue::splice_readme(&readme, &table).unwrap_or_else(|| {
        panic!(
            "README.md has no section between {:?} and {:?}",
            catalogue::README_BEGIN,
            catalogue::README_END
        )
    });
    if expected == readme {
        return;
    }
    if std::env::var_os("OMSD_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, expected).expect("rewrite README.md");
        eprintln!("README.md metrics catalogue rewritten");
        return;
    }
    panic!(
        "the README's metrics catalogue differs from src/telemetry.rs; run \
         `OMSD_BLESS=1 cargo test --test ops_catalogue` to regenerate it. Expected table:\n{table}"
    );
}

/// A `pub const` metric name outside the `metrics!` block would be missing from the catalogue
/// (and so from the README, the exporter's help texts and the dashboard checks).
#[test]
fn every_metric_name_in_telemetry_is_declared_in_the_catalogue() {
    let mut stray = Vec::new();
    for file in [
        "src/telemetry.rs",
        "src/telemetry/venue.rs",
        "src/telemetry/market.rs",
    ] {
        for (n, line) in ops::read(file).lines().enumerate() {
            if line.trim_start().starts_with("pub const ") && line.contains("\"omsd_") {
                stray.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        stray.is_empty(),
        "declare these in the metrics! block of src/telemetry.rs instead:\n{}",
        stray.join("\n")
    );
    assert!(CATALOGUE.len() >= 60, "{} metrics", CATALOGUE.len());
}
