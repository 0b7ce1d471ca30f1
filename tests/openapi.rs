//! The control port against its own OpenAPI document: schemathesis (PyPI, in a virtualenv this
//! test creates with `scripts/venv.sh`) generates requests for every documented operation and
//! checks that none answers 5xx and that every answer matches the document (status code,
//! content type, body schema).

mod common;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The schemathesis virtualenv (created on first use, reused while its requirements hold).
fn schemathesis_venv() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new(root.join("scripts/venv.sh"))
        .arg("schemathesis")
        .arg("tests/openapi/requirements.txt")
        .current_dir(root)
        .output()
        .expect("run scripts/venv.sh");
    assert!(
        output.status.success(),
        "creating the schemathesis virtualenv failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// Runs `schemathesis run` against the daemon at `base`, from `dir`; its exit status and
/// output.
async fn schemathesis(venv: &Path, dir: &Path, base: &str, extra: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(venv.join("bin/schemathesis"))
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance",
            "--max-examples",
            "25",
            "--workers",
            "1",
            "--request-timeout",
            "20",
        ])
        .args(extra)
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    let resp = http.get(url).send().await.expect("control port answers");
    resp.json().await.expect("JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_holds_to_the_document_under_generated_requests() {
    let venv = tokio::task::spawn_blocking(schemathesis_venv)
        .await
        .expect("venv task");
    let running = common::daemon::start_ready("omsd-openapi", |config| config).await;
    let (dir, base) = (running.dir.path(), running.daemon.base());
    let http = reqwest::Client::new();

    // Some state for the reads to return: an order with fills.
    let book = get_json(&http, &format!("{base}/v1/books/binance/BTC-USDT?depth=1")).await;
    if let Some(ask) = book["asks"][0]["price"].as_str() {
        let resp = http
            .post(format!("{base}/v1/orders"))
            .header("Idempotency-Key", "openapi-1")
            .json(
                &json!({"venue": "binance", "symbol": "BTC-USDT", "side": "buy",
                "type": "limit", "quantity": "0.001", "price": ask}),
            )
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    }

    let doc = get_json(&http, &format!("{base}/openapi.json")).await;
    assert_eq!(doc["openapi"], json!("3.1.0"));
    for path in ["/v1/balances", "/v1/venues", "/v1/reports/daily"] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }

    // The live event stream never ends by itself: it has its own tests (e2e_events).
    assert!(doc["paths"]["/v1/events"]["get"].is_object());
    let (ok, output) = schemathesis(&venv, dir, &base, &["--exclude-path", "/v1/events"]).await;
    assert!(ok, "schemathesis found problems:\n{output}");
    assert!(
        output.contains("passed") && !output.contains("0 generated"),
        "schemathesis ran no test cases:\n{output}"
    );
    // The daemon survived it all.
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}
