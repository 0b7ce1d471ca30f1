//! `GET /v1/reports/daily`: the end-of-day report (see `crate::report`) of one UTC day, for one
//! venue or all.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use crate::clock::now_ms;
use crate::report::{DailyReport, Day};

/// Query parameters of `GET /v1/reports/daily`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DailyParams {
    /// `YYYY-MM-DD` (UTC); today when absent.
    date: Option<String>,
    venue: Option<String>,
}

/// `GET /v1/reports/daily?date=YYYY-MM-DD&venue=`: the end-of-day report per venue and
/// symbol.
#[utoipa::path(get, path = "/v1/reports/daily", tag = "reports", security(("bearer" = ["read"])),
    params(DailyParams),
    responses((status = 200, body = DailyReport), super::openapi::ReadErrors))]
pub async fn daily(
    State(state): State<AppState>,
    params: Result<Query<DailyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DailyReport>, ApiError> {
    let Query(params) =
        params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let day = match &params.date {
        Some(text) => Day::parse(text).map_err(|e| ApiError::bad_request("invalid_date", e))?,
        None => Day::containing(now_ms()),
    };
    if let Some(venue) = &params.venue
        && state.venues.get(venue).is_none()
    {
        return Err(ApiError::not_found(format!(
            "venue '{venue}' is not configured"
        )));
    }
    let inputs = state
        .store
        .report_inputs(params.venue.as_deref(), day.start_ms(), day.end_ms())
        .await?;
    Ok(Json(DailyReport::build(day, params.venue, &inputs)))
}
