//! Reading a [`FaultSpec`] from JSON: the name picks the parameter struct, and a missing or
//! null `params` means every default (`{"fault":"force_429"}` is valid).

use serde::Deserialize;

use super::spec::{FaultSpec, NAMES};

/// The wire shape before dispatch on the name, so `params` may be left out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSpec {
    fault: String,
    #[serde(default)]
    params: Option<serde_json::Value>,
}

impl TryFrom<RawSpec> for FaultSpec {
    type Error = String;

    fn try_from(raw: RawSpec) -> Result<Self, String> {
        fn params<T: serde::de::DeserializeOwned>(raw: RawSpec) -> Result<T, String> {
            let value = match raw.params {
                None | Some(serde_json::Value::Null) => serde_json::json!({}),
                Some(value) => value,
            };
            serde_json::from_value(value).map_err(|e| format!("params of {}: {e}", raw.fault))
        }
        Ok(match raw.fault.as_str() {
            "drop_connections" => Self::DropConnections(params(raw)?),
            "silence_streams" => Self::SilenceStreams(params(raw)?),
            "stop_pings" => Self::StopPings(params(raw)?),
            "ignore_pongs" => Self::IgnorePongs(params(raw)?),
            "depth_gap" => Self::DepthGap(params(raw)?),
            "duplicate_user_events" => Self::DuplicateUserEvents(params(raw)?),
            "reorder_user_events" => Self::ReorderUserEvents(params(raw)?),
            "rest_errors" => Self::RestErrors(params(raw)?),
            "rest_hang" => Self::RestHang(params(raw)?),
            "latency" => Self::Latency(params(raw)?),
            "downtime" => Self::Downtime(params(raw)?),
            "clock_skew" => Self::ClockSkew(params(raw)?),
            "force_429" => Self::Force429(params(raw)?),
            "force_418" => Self::Force418(params(raw)?),
            "swallow_order_acks" => Self::SwallowOrderAcks(params(raw)?),
            other => {
                let names = NAMES.join(", ");
                return Err(format!("unknown fault {other:?}, expected one of {names}"));
            }
        })
    }
}
