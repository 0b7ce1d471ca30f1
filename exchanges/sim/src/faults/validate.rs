//! Checks a [`FaultSpec`] before it becomes active (rates, statuses, bounds, symbols), so a bad
//! request is a 400 with the reason, and names, indexes and lifetimes of every fault.

use super::spec::*;
use crate::engine::{Catalog, SymbolId};

/// Why a fault cannot be injected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault: {0}")]
pub struct FaultError(pub String);

/// Longest window, hold or delay a fault may ask for (7 days), so deadlines never overflow.
const MAX_MS: u64 = 7 * 86_400_000;
/// Largest `offset_ms` of a clock skew (1 day either way).
const MAX_SKEW_MS: i64 = 86_400_000;
/// Largest `Retry-After` (3 days, the venue's longest ban).
const MAX_RETRY_AFTER_S: u64 = 3 * 86_400;
/// Largest reorder window.
const MAX_WINDOW: usize = 100;
/// Largest depth gap.
const MAX_SKIP: u64 = 1_000_000;

impl FaultSpec {
    /// The fault's wire name, e.g. `"rest_errors"`.
    pub fn name(&self) -> &'static str {
        NAMES[self.index()]
    }

    /// Position in [`NAMES`] (and in the counters).
    pub(crate) fn index(&self) -> usize {
        match self {
            Self::DropConnections(_) => 0,
            Self::SilenceStreams(_) => 1,
            Self::StopPings(_) => 2,
            Self::IgnorePongs(_) => 3,
            Self::DepthGap(_) => 4,
            Self::DuplicateUserEvents(_) => 5,
            Self::ReorderUserEvents(_) => 6,
            Self::RestErrors(_) => 7,
            Self::RestHang(_) => 8,
            Self::Latency(_) => 9,
            Self::Downtime(_) => 10,
            Self::ClockSkew(_) => 11,
            Self::Force429(_) => 12,
            Self::Force418(_) => 13,
            Self::SwallowOrderAcks(_) => 14,
        }
    }

    /// How long the fault stays active; `None` means until cleared (or, for the one-shot
    /// faults, until applied).
    pub(crate) fn lifetime_ms(&self) -> Option<u64> {
        match self {
            Self::DropConnections(_) | Self::RestHang(_) => None,
            Self::SilenceStreams(p) => p.duration_ms,
            Self::StopPings(p) | Self::IgnorePongs(p) => p.duration_ms,
            Self::DepthGap(p) => p.duration_ms,
            Self::DuplicateUserEvents(p) => p.duration_ms,
            Self::ReorderUserEvents(p) => p.duration_ms,
            Self::RestErrors(p) => p.duration_ms,
            Self::Latency(p) => p.duration_ms,
            Self::Downtime(p) => Some(p.duration_ms),
            Self::ClockSkew(p) => p.duration_ms,
            Self::Force429(p) | Self::Force418(p) => p.duration_ms,
            Self::SwallowOrderAcks(p) => p.duration_ms,
        }
    }

    /// Checks every parameter and resolves the symbols (empty = all symbols).
    pub(crate) fn validate(&self, catalog: &Catalog) -> Result<Vec<SymbolId>, FaultError> {
        if let Some(ms) = self.lifetime_ms() {
            bounded("duration_ms", ms, 1)?;
        }
        let no_symbols: &[String] = &[];
        let symbols = match self {
            Self::DropConnections(p) => {
                rate(p.rate)?;
                websocket(p.target)?;
                no_symbols
            }
            Self::SilenceStreams(p) => {
                websocket(p.target)?;
                &p.symbols
            }
            Self::StopPings(p) | Self::IgnorePongs(p) => {
                websocket(p.target)?;
                no_symbols
            }
            Self::DepthGap(p) => {
                if !(1..=MAX_SKIP).contains(&p.skip) {
                    return invalid(format!("skip must be 1..={MAX_SKIP}"));
                }
                &p.symbols
            }
            Self::DuplicateUserEvents(p) => {
                rate(p.rate)?;
                no_symbols
            }
            Self::ReorderUserEvents(p) => {
                if !(2..=MAX_WINDOW).contains(&p.window) {
                    return invalid(format!("window must be 2..={MAX_WINDOW}"));
                }
                no_symbols
            }
            Self::RestErrors(p) => {
                rate(p.rate)?;
                if ![500, 502, 503, 504].contains(&p.status) {
                    return invalid("status must be 500, 502, 503 or 504".into());
                }
                no_symbols
            }
            Self::RestHang(p) => {
                rate(p.rate)?;
                bounded("duration_ms", p.duration_ms, 1)?;
                no_symbols
            }
            Self::Latency(p) => {
                bounded("mean_ms", p.mean_ms, 0)?;
                bounded("jitter_ms", p.jitter_ms, 0)?;
                no_symbols
            }
            Self::Downtime(_) | Self::ClockSkew(_) => {
                if let Self::ClockSkew(p) = self
                    && p.offset_ms.abs() > MAX_SKEW_MS
                {
                    return invalid(format!("offset_ms must be within ±{MAX_SKEW_MS}"));
                }
                no_symbols
            }
            Self::Force429(p) | Self::Force418(p) => {
                if p.retry_after_s > MAX_RETRY_AFTER_S {
                    return invalid(format!("retry_after_s must be at most {MAX_RETRY_AFTER_S}"));
                }
                no_symbols
            }
            Self::SwallowOrderAcks(p) => {
                rate(p.rate)?;
                if matches!(p.target, Target::Streams | Target::Engine) {
                    return invalid("target must be rest, ws_api or all".into());
                }
                bounded("hold_ms", p.hold_ms, 1)?;
                &p.symbols
            }
        };
        symbols
            .iter()
            .map(|name| {
                catalog
                    .symbol_id(&name.to_ascii_uppercase())
                    .ok_or_else(|| FaultError(format!("unknown symbol {name:?}")))
            })
            .collect()
    }
}

fn invalid<T>(reason: String) -> Result<T, FaultError> {
    Err(FaultError(reason))
}

fn rate(rate: f64) -> Result<(), FaultError> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        invalid("rate must be between 0 and 1".into())
    }
}

fn bounded(name: &str, ms: u64, min: u64) -> Result<(), FaultError> {
    if (min..=MAX_MS).contains(&ms) {
        Ok(())
    } else {
        invalid(format!("{name} must be {min}..={MAX_MS}"))
    }
}

fn websocket(target: Target) -> Result<(), FaultError> {
    if matches!(target, Target::Rest | Target::Engine) {
        invalid("target must be streams, ws_api or all".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;

    fn check(json: &str) -> Result<Vec<SymbolId>, String> {
        let catalog = Catalog::new(&SimConfig::default().symbols, std::iter::empty());
        let spec: FaultSpec = serde_json::from_str(json).map_err(|e| e.to_string())?;
        spec.validate(&catalog).map_err(|e| e.to_string())
    }

    #[test]
    fn specs_table() {
        let ok = [
            (r#"{"fault":"force_429","params":{}}"#, vec![]),
            (r#"{"fault":"force_429"}"#, vec![]),
            (
                r#"{"fault":"depth_gap","params":{"symbols":["btcusdt"],"skip":5}}"#,
                vec![SymbolId(0)],
            ),
            (
                r#"{"fault":"rest_errors","params":{"status":500,"rate":0.5}}"#,
                vec![],
            ),
            (
                r#"{"fault":"downtime","params":{"duration_ms":100}}"#,
                vec![],
            ),
        ];
        for (json, symbols) in ok {
            assert_eq!(check(json), Ok(symbols), "{json}");
        }
        let bad = [
            (r#"{"fault":"nope","params":{}}"#, "unknown fault"),
            (
                r#"{"fault":"latency","params":{},"extra":1}"#,
                "unknown field",
            ),
            (
                r#"{"fault":"latency","params":{"mean":5}}"#,
                "unknown field",
            ),
            (
                r#"{"fault":"rest_errors","params":{"status":404}}"#,
                "status",
            ),
            (r#"{"fault":"rest_errors","params":{"rate":2}}"#, "rate"),
            (r#"{"fault":"downtime","params":{}}"#, "duration_ms"),
            (
                r#"{"fault":"depth_gap","params":{"symbols":["NOPE"]}}"#,
                "unknown symbol",
            ),
            (
                r#"{"fault":"drop_connections","params":{"target":"rest"}}"#,
                "target",
            ),
            (
                r#"{"fault":"silence_streams","params":{"target":"engine"}}"#,
                "target",
            ),
            (
                r#"{"fault":"swallow_order_acks","params":{"target":"engine"}}"#,
                "target",
            ),
            (
                r#"{"fault":"reorder_user_events","params":{"window":1}}"#,
                "window",
            ),
            (
                r#"{"fault":"clock_skew","params":{"offset_ms":"x"}}"#,
                "invalid type",
            ),
        ];
        for (json, needle) in bad {
            let error = check(json).expect_err(json);
            assert!(error.contains(needle), "{json}: {error}");
        }
    }

    #[test]
    fn names_round_trip() {
        let spec = FaultSpec::Force418(ForcedStatus::default());
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["fault"], "force_418");
        assert_eq!(spec.name(), "force_418");
        assert_eq!(serde_json::from_value::<FaultSpec>(json).unwrap(), spec);
    }
}
