//! A minimal Server-Sent Events client over reqwest, for `GET /v1/events`.

use std::time::Duration;

/// One SSE event (comments and keep-alives are skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseFrame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl SseFrame {
    /// The `data` as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).expect("event data is JSON")
    }
}

/// An open event stream.
pub struct SseStream {
    resp: reqwest::Response,
    buf: String,
}

impl SseStream {
    /// Opens `url`, with `Last-Event-ID` when given; panics unless it answers 200 with
    /// `text/event-stream`.
    pub async fn connect(url: &str, last_event_id: Option<i64>) -> SseStream {
        // No overall timeout: the stream lives as long as the test reads it.
        let http = reqwest::Client::new();
        let mut req = http.get(url);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req.send().await.expect("events endpoint answers");
        assert_eq!(resp.status().as_u16(), 200, "GET {url}");
        let kind = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(kind.starts_with("text/event-stream"), "content type {kind}");
        SseStream {
            resp,
            buf: String::new(),
        }
    }

    /// The next event; `None` when the stream ended or nothing came within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<SseFrame> {
        let end = tokio::time::Instant::now() + wait;
        loop {
            while let Some(at) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..at + 2).collect();
                if let Some(frame) = parse(&block) {
                    return Some(frame);
                }
            }
            let chunk = tokio::time::timeout_at(end, self.resp.chunk()).await.ok()?;
            let bytes = chunk.ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
}

fn parse(block: &str) -> Option<SseFrame> {
    let (mut id, mut event, mut data) = (None, None, Vec::new());
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.to_string()),
            "event" => event = Some(value.to_string()),
            "data" => data.push(value.to_string()),
            _ => {}
        }
    }
    (!data.is_empty()).then(|| SseFrame {
        id,
        event,
        data: data.join("\n"),
    })
}
