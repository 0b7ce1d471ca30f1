//! `omsd watch`: follows `GET /v1/events` (Server-Sent Events), printing each event, and
//! resumes with `Last-Event-ID` after a dropped connection or a cut-off, so nothing is missed
//! or shown twice.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::Output;
use super::client::{Client, Failure, exit, failure_of};

/// Reconnect attempts in a row before giving up (one second apart).
const MAX_RETRIES: u32 = 10;
const RETRY_WAIT: Duration = Duration::from_secs(1);

/// One parsed SSE event.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Splits an SSE byte stream into events (the WHATWG format: `field: value` lines, a blank line
/// ends an event, lines starting with `:` are comments).
#[derive(Default)]
pub(crate) struct SseParser {
    buffer: Vec<u8>,
    current: SseEvent,
    has_data: bool,
}

impl SseParser {
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                let event = std::mem::take(&mut self.current);
                if std::mem::take(&mut self.has_data) || event.event.is_some() {
                    events.push(event);
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "id" => self.current.id = Some(value.to_owned()),
                "event" => self.current.event = Some(value.to_owned()),
                "data" => {
                    if self.has_data {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                    self.has_data = true;
                }
                _ => {}
            }
        }
        events
    }
}

pub(crate) async fn run(
    client: &Client,
    out: &Output,
    after: Option<i64>,
    count: Option<u64>,
) -> Result<u8, Failure> {
    let mut last_id = after.map(|a| a.to_string());
    let mut seen = 0u64;
    let mut failures = 0u32;
    loop {
        let mut request = client
            .request(Method::GET, "/v1/events", None)
            .header("Accept", "text/event-stream");
        if let Some(id) = &last_id {
            request = request.header("Last-Event-ID", id.clone());
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                failures += 1;
                if failures > MAX_RETRIES {
                    return Err(client.unreachable(&e));
                }
                eprintln!("omsd: events: {e}; retrying");
                tokio::time::sleep(RETRY_WAIT).await;
                continue;
            }
        };
        let status = response.status();
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            return Err(failure_of(status, &json));
        }
        failures = 0;
        let mut parser = SseParser::default();
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    eprintln!("omsd: events stream dropped: {e}; resuming");
                    break;
                }
            };
            for event in parser.feed(&chunk) {
                let name = event.event.as_deref().unwrap_or("message");
                if !matches!(name, "order" | "fill") {
                    // A notice from the daemon (e.g. this subscriber was cut off): say it and
                    // resume from the last event shown.
                    eprintln!("omsd: events: {name}: {}", event.data);
                    continue;
                }
                if let Some(id) = &event.id {
                    last_id = Some(id.clone());
                }
                print_event(out, name, &event);
                seen += 1;
                if count.is_some_and(|c| seen >= c) {
                    return Ok(exit::OK);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print_event(out: &Output, name: &str, event: &SseEvent) {
    let data: Value =
        serde_json::from_str(&event.data).unwrap_or(Value::String(event.data.clone()));
    if out.json {
        let line = json!({ "seq": event.id, "event": name, "data": data });
        println!("{line}");
        return;
    }
    let field = |k: &str| super::render::cell(data.get(k).unwrap_or(&Value::Null));
    println!(
        "{:>8}  {:<5}  order {}  {} {}  {}  filled {}  {}",
        event.id.as_deref().unwrap_or("-"),
        name,
        field("order_id"),
        field("venue"),
        field("symbol"),
        field("status"),
        field("filled_quantity"),
        field("kind"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_chunks_and_comments_are_skipped() {
        let mut parser = SseParser::default();
        assert!(parser.feed(b": keep-alive\n\nid: 7\nevent: ord").is_empty());
        let events = parser.feed(b"er\ndata: {\"a\":1}\r\n\nid: 8\ndata: x\ndata: y\n\n");
        assert_eq!(
            events,
            vec![
                SseEvent {
                    id: Some("7".into()),
                    event: Some("order".into()),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    id: Some("8".into()),
                    event: None,
                    data: "x\ny".into()
                },
            ]
        );
    }
}
