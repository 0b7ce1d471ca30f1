//! Static checks of the Dockerfile that docker-compose.yml builds: both binaries, a non-root
//! runtime stage with CA certificates and the configurations, a build context without build
//! output.

mod ops;

use ops::compose::{command, services};

#[test]
fn dockerfile_builds_both_binaries_and_runs_as_non_root() {
    let text = ops::read("Dockerfile").replace("\\\n", " ");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert!(froms.len() >= 2, "a build stage and a runtime stage");
    assert!(
        froms[0].starts_with("FROM rust:1") && froms[0].ends_with("AS builder"),
        "{}",
        froms[0]
    );
    assert!(froms[froms.len() - 1].starts_with("FROM debian:bookworm-slim"));
    let build = lines
        .iter()
        .find(|l| l.contains("cargo build"))
        .expect("cargo build");
    for flag in [
        "--release",
        "--locked",
        "-p omsd",
        "-p exchange-sim",
        "--bin omsd ",
        "--bin omsd-sim",
    ] {
        assert!(build.contains(flag), "cargo build without {flag}: {build}");
    }
    let runtime_start = lines
        .iter()
        .rposition(|l| l.starts_with("FROM "))
        .expect("FROM");
    let runtime = &lines[runtime_start..];
    let user = runtime
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER");
    assert!(!["root", "0"].contains(&user.split(':').next().unwrap_or_default()));
    assert!(runtime.iter().any(|l| l.contains("ca-certificates")));
    let copies = runtime
        .iter()
        .filter(|l| l.starts_with("COPY "))
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    for needed in [
        "/omsd ",
        "/omsd-sim ",
        "/usr/local/bin",
        "config/ /etc/omsd/",
    ] {
        assert!(
            copies.contains(needed),
            "runtime stage does not copy {needed}: {copies}"
        );
    }
    let ignored: Vec<_> = ops::read(".dockerignore")
        .lines()
        .map(|l| l.trim().trim_end_matches('/').to_string())
        .collect();
    for entry in ["target", "var", ".venv", ".git"] {
        assert!(
            ignored.iter().any(|l| l == entry),
            ".dockerignore misses {entry}"
        );
    }
    for (name, service) in services() {
        if service.get("build").is_some() {
            let binary = command(&service).first().cloned().unwrap_or_default();
            assert!(
                ["omsd", "omsd-sim"].contains(&binary.as_str()),
                "{name} runs {binary}"
            );
        }
    }
}
