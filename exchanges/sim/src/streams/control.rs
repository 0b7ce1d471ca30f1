//! Market-stream names and the live control messages of a connection: `SUBSCRIBE`,
//! `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY` and `GET_PROPERTY`, with the request `id`
//! echoed in its JSON type and the venue's error objects (`code` 0 to 3).

use serde_json::{Value, json};

use crate::bus::StreamKind;
use crate::engine::{Catalog, SymbolId};
use crate::listen_keys::ListenKeys;
use crate::tape::Interval;

/// Most streams one connection may hold.
pub(super) const MAX_STREAMS: usize = 1024;

/// What a stream name means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Name {
    /// A served market stream.
    Market(SymbolId, StreamKind),
    /// A well-formed market stream name we carry no data for (rolling-window tickers, ...).
    Silent,
    /// A legacy listenKey (user data).
    ListenKey,
}

/// Parses a stream name: `<symbol>@<type>` with a lower-case symbol, or a listenKey.
pub(super) fn parse_stream(name: &str, catalog: &Catalog) -> Option<Name> {
    let Some((symbol, kind)) = name.split_once('@') else {
        return ListenKeys::is_key_shaped(name).then_some(Name::ListenKey);
    };
    let symbol_ok = !symbol.is_empty()
        && symbol
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'!');
    let kind_ok = !kind.is_empty()
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@_-.".contains(&b));
    if name.len() > 200 || !symbol_ok || !kind_ok {
        return None;
    }
    let partial = |levels: u8, fast: bool| StreamKind::Partial { levels, fast };
    let kind = match kind {
        "depth@100ms" => StreamKind::DepthFast,
        "depth" | "depth@1000ms" => StreamKind::DepthSlow,
        "trade" => StreamKind::Trade,
        "aggTrade" => StreamKind::AggTrade,
        "bookTicker" => StreamKind::BookTicker,
        "depth5" | "depth5@1000ms" => partial(5, false),
        "depth10" | "depth10@1000ms" => partial(10, false),
        "depth20" | "depth20@1000ms" => partial(20, false),
        "depth5@100ms" => partial(5, true),
        "depth10@100ms" => partial(10, true),
        "depth20@100ms" => partial(20, true),
        "ticker" => StreamKind::Ticker,
        "miniTicker" => StreamKind::MiniTicker,
        "avgPrice" => StreamKind::AvgPrice,
        other => match other.strip_prefix("kline_").and_then(Interval::parse) {
            Some(interval) => StreamKind::Kline(interval),
            None => return Some(Name::Silent),
        },
    };
    Some(
        catalog
            .symbol_id(&symbol.to_ascii_uppercase())
            .map_or(Name::Silent, |id| Name::Market(id, kind)),
    )
}

/// A parsed control message.
#[derive(Debug, PartialEq)]
pub(super) enum Control {
    Subscribe(Vec<String>, Value),
    Unsubscribe(Vec<String>, Value),
    List(Value),
    SetCombined(bool, Value),
    GetCombined(Value),
}

/// Parses one control message, or returns the error reply to send.
pub(super) fn parse_control(text: &str, catalog: &Catalog) -> Result<Control, String> {
    let value: Value = serde_json::from_str(text)
        .map_err(|error| failure(3, format!("Invalid JSON: {error}"), Value::Null))?;
    let Some(request) = value.as_object() else {
        return Err(failure(
            2,
            "Invalid request: expected an object".into(),
            Value::Null,
        ));
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    if !valid_id(&id) {
        let msg = "Invalid request: request ID must be an unsigned integer";
        return Err(failure(2, msg.into(), Value::Null));
    }
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return Err(failure(
            2,
            "Invalid request: missing field `method`".into(),
            id,
        ));
    };
    let params = match request.get("params") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(params)) => params.as_slice(),
        Some(_) => {
            return Err(failure(
                2,
                "Invalid request: params must be an array".into(),
                id,
            ));
        }
    };
    match method {
        "SUBSCRIBE" | "UNSUBSCRIBE" => {
            let mut names = Vec::with_capacity(params.len());
            for param in params {
                match param.as_str() {
                    Some(name) if parse_stream(name, catalog).is_some() => {
                        names.push(name.to_owned())
                    }
                    _ => {
                        let msg = format!("Invalid request: invalid stream name {param}");
                        return Err(failure(2, msg, id));
                    }
                }
            }
            if names.len() > MAX_STREAMS {
                return Err(failure(2, "Invalid request: too many streams".into(), id));
            }
            Ok(if method == "SUBSCRIBE" {
                Control::Subscribe(names, id)
            } else {
                Control::Unsubscribe(names, id)
            })
        }
        "LIST_SUBSCRIPTIONS" => Ok(Control::List(id)),
        "SET_PROPERTY" => match params {
            [Value::String(name), Value::Bool(on)] if name == "combined" => {
                Ok(Control::SetCombined(*on, id))
            }
            [Value::String(name), _] if name == "combined" => Err(failure(
                1,
                "Invalid value type: expected Boolean".into(),
                id,
            )),
            [Value::String(_), _] => Err(failure(0, "Unknown property".into(), id)),
            _ => Err(failure(
                2,
                "Invalid request: property name must be a string".into(),
                id,
            )),
        },
        "GET_PROPERTY" => match params {
            [Value::String(name)] if name == "combined" => Ok(Control::GetCombined(id)),
            [Value::String(_)] => Err(failure(0, "Unknown property".into(), id)),
            _ => Err(failure(
                2,
                "Invalid request: property name must be a string".into(),
                id,
            )),
        },
        other => Err(failure(
            2,
            format!(
                "Invalid request: unknown variant `{other}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
            ),
            id,
        )),
    }
}

fn valid_id(id: &Value) -> bool {
    match id {
        Value::Null => true,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::String(s) => {
            s.len() <= 36
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        _ => false,
    }
}

pub(super) fn success(result: Value, id: Value) -> String {
    json!({ "result": result, "id": id }).to_string()
}

pub(super) fn failure(code: i64, msg: String, id: Value) -> String {
    json!({ "error": { "code": code, "msg": msg }, "id": id }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;

    #[test]
    fn stream_names_table() {
        let catalog = Catalog::new(&SimConfig::default().symbols, std::iter::empty());
        let btc = SymbolId(0);
        let market = |kind| Some(Name::Market(btc, kind));
        let cases = [
            ("btcusdt@depth@100ms", market(StreamKind::DepthFast)),
            ("btcusdt@depth", market(StreamKind::DepthSlow)),
            ("btcusdt@aggTrade", market(StreamKind::AggTrade)),
            ("btcusdt@bookTicker", market(StreamKind::BookTicker)),
            (
                "btcusdt@depth10",
                market(StreamKind::Partial {
                    levels: 10,
                    fast: false,
                }),
            ),
            (
                "btcusdt@depth20@100ms",
                market(StreamKind::Partial {
                    levels: 20,
                    fast: true,
                }),
            ),
            (
                "ethusdt@trade",
                Some(Name::Market(SymbolId(1), StreamKind::Trade)),
            ),
            ("btcusdt@ticker", market(StreamKind::Ticker)),
            ("btcusdt@miniTicker", market(StreamKind::MiniTicker)),
            ("btcusdt@avgPrice", market(StreamKind::AvgPrice)),
            (
                "btcusdt@kline_1M",
                market(StreamKind::Kline(Interval::parse("1M").unwrap())),
            ),
            ("btcusdt@ticker_1h", Some(Name::Silent)),
            ("btcusdt@kline_7m", Some(Name::Silent)),
            ("xrpusdt@trade", Some(Name::Silent)),
            ("BTCUSDT@trade", None),
            ("0", None),
            ("btcusdt@", None),
        ];
        for (name, expected) in cases {
            assert_eq!(parse_stream(name, &catalog), expected, "{name}");
        }
        let key = "a".repeat(64);
        assert_eq!(parse_stream(&key, &catalog), Some(Name::ListenKey));
    }

    #[test]
    fn control_table() {
        let catalog = Catalog::new(&SimConfig::default().symbols, std::iter::empty());
        let parse = |text: &str| parse_control(text, &catalog);
        assert_eq!(
            parse(r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":7}"#),
            Ok(Control::Subscribe(vec!["btcusdt@trade".into()], json!(7)))
        );
        assert_eq!(
            parse(r#"{"method":"LIST_SUBSCRIPTIONS","id":"a-b"}"#),
            Ok(Control::List(json!("a-b")))
        );
        let errors = [
            ("{nope", r#""code":3"#),
            ("[1]", r#""code":2"#),
            (r#"{"method":"FOO","id":1}"#, "unknown variant"),
            (
                r#"{"method":"SUBSCRIBE","params":["x"],"id":{}}"#,
                "request ID",
            ),
            (
                r#"{"method":"SUBSCRIBE","params":["BAD@x"],"id":1}"#,
                "invalid stream name",
            ),
            (
                r#"{"method":"SUBSCRIBE","params":"btcusdt@trade","id":1}"#,
                "params must be an array",
            ),
            (
                r#"{"method":"SET_PROPERTY","params":["combined",1],"id":1}"#,
                r#""code":1"#,
            ),
            (
                r#"{"method":"GET_PROPERTY","params":["other"],"id":1}"#,
                r#""code":0"#,
            ),
            (r#"{"params":[],"id":1}"#, "missing field"),
        ];
        for (text, needle) in errors {
            let reply = parse(text).unwrap_err();
            assert!(reply.contains(needle), "{text} -> {reply}");
        }
    }
}
