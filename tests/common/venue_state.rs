//! What tests and load drivers read of the one venue from `/v1/venues`, and how drivers print
//! latencies.

use std::time::Duration;

use serde_json::{Value, json};

/// Counters and states read from `/v1/venues` for the one venue.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Seen {
    /// Stream reconnects of every cause (rotations included).
    pub reconnects: u64,
    /// Planned replacements (maximum age, `serverShutdown`).
    pub rotations: u64,
    pub resyncs: u64,
    pub all_books_in_sync: bool,
    pub reconciliations: u64,
    pub user_up_and_reconciled: bool,
}

pub fn seen(venues: &Value) -> Seen {
    let venue = &venues[0];
    let streams = venue["health"]["streams"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let reconnects_by = |only: Option<&str>| -> u64 {
        streams
            .iter()
            .filter_map(|s| s["reconnects_total"].as_object())
            .flat_map(|m| {
                m.iter()
                    .filter(|(reason, _)| only.is_none_or(|o| o == reason.as_str()))
                    .filter_map(|(_, n)| n.as_u64())
                    .collect::<Vec<_>>()
            })
            .sum()
    };
    let books = venue["books"].as_array().cloned().unwrap_or_default();
    Seen {
        reconnects: reconnects_by(None),
        rotations: reconnects_by(Some("rotation")),
        resyncs: books.iter().filter_map(|b| b["resyncs"].as_u64()).sum(),
        all_books_in_sync: !books.is_empty() && books.iter().all(|b| b["in_sync"] == json!(true)),
        reconciliations: venue["reconciliations"].as_u64().unwrap_or(0),
        user_up_and_reconciled: venue["user_stream_connected"] == json!(true)
            && venue["reconciling"] == json!(false),
    }
}

pub async fn venues(http: &reqwest::Client, base: &str) -> Value {
    match http.get(format!("{base}/v1/venues")).send().await {
        Ok(resp) => resp.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn report(name: &str, mut values: Vec<Duration>) {
    values.sort();
    println!(
        "{name:<28} p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
        ms(percentile(&values, 0.50)),
        ms(percentile(&values, 0.90)),
        ms(percentile(&values, 0.99)),
        ms(*values.last().unwrap_or(&Duration::ZERO)),
    );
}
