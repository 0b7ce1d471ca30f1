//! The control-port client behind the CLI: one request, its JSON answer, and a failure that
//! knows the exit code a script should see.

use std::process::ExitCode;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Exit codes of the client subcommands (clap's own usage errors exit 2).
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// The daemon refused the request (4xx other than auth), or the venue rejected the order.
    pub const REFUSED: u8 = 1;
    /// The daemon cannot be reached (down, wrong address, timed out).
    pub const UNREACHABLE: u8 = 3;
    /// The token is missing, wrong (401) or lacks the scope (403).
    pub const AUTH: u8 = 4;
    /// The daemon failed or is not ready (5xx).
    pub const DAEMON: u8 = 5;
}

/// Why a client command failed.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// Prints the failure and turns it into the process's exit code.
    pub fn report(self) -> ExitCode {
        eprintln!("omsd: {}", self.message);
        ExitCode::from(self.code)
    }
}

/// A client of one daemon's control port.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Result<Client, Failure> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Failure::new(exit::UNREACHABLE, format!("http client: {e}")))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.is_empty()),
        })
    }

    /// A request to `path` with the token set; `timeout` bounds the whole exchange (none for
    /// a stream).
    pub fn request(
        &self,
        method: Method,
        path: &str,
        timeout: Option<Duration>,
    ) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    /// Sends `request` and returns the JSON body of a 2xx answer, or the failure.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, Failure> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(json);
        }
        Err(failure_of(status, &json))
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Failure> {
        let request = self
            .request(Method::GET, path, Some(REQUEST_TIMEOUT))
            .query(query);
        self.send(request).await
    }

    pub fn unreachable(&self, e: &reqwest::Error) -> Failure {
        let what = if e.is_timeout() {
            "did not answer in time"
        } else {
            "cannot be reached"
        };
        Failure::new(
            exit::UNREACHABLE,
            format!(
                "the daemon at {} {what} (is it running? --url / OMSD_URL): {e}",
                self.base
            ),
        )
    }
}

/// How long one request may take (submits wait for the venue's answer, bounded by the daemon).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The failure a non-2xx answer means, with the daemon's own error code and message.
pub fn failure_of(status: StatusCode, body: &Value) -> Failure {
    let code = body["error"]["code"].as_str().unwrap_or("error");
    let message = body["error"]["message"].as_str().unwrap_or("");
    let exit_code = match status.as_u16() {
        401 | 403 => exit::AUTH,
        400..=499 => exit::REFUSED,
        _ => exit::DAEMON,
    };
    let hint = match status.as_u16() {
        401 => " (set the token with --token or OMSD_TOKEN)",
        403 => " (the token lacks the scope this command needs)",
        _ => "",
    };
    Failure::new(
        exit_code,
        format!("{} {code}: {message}{hint}", status.as_u16()),
    )
}
