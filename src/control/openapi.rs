//! The OpenAPI 3 document of the control port, generated from the handlers' annotations and
//! the types they answer with (never maintained beside them), served at `/openapi.json`.
//!
//! Each operation names the scope its bearer token needs (`security`); `/healthz`, `/readyz`
//! and `/openapi.json` need none.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use super::error::ErrorBody;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "omsd control API",
        description = "Orders, fills, balances, venue status, books, stored market data, \
                       reports and the kill switch of one omsd daemon. Decimals are JSON \
                       strings, times epoch milliseconds; errors are \
                       `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "Apache-2.0"),
    ),
    paths(
        super::healthz,
        super::readyz,
        super::venues,
        super::book,
        super::ops::status,
        super::ops::balances,
        super::ops::kill_switch,
        super::ops::set_kill_switch,
        super::market::trades,
        super::market::candles,
        super::market::snapshots,
        super::reports::daily,
        super::events::stream,
        document,
    ),
    components(schemas(super::events::Ending)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme the operations' `security` refers to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    security(()),
    responses((status = 200, description = "This document", content_type = "application/json"))
)]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The errors a read can answer.
#[allow(dead_code)]
#[derive(IntoResponses)]
pub enum ReadErrors {
    #[response(status = 400, description = "Malformed query or path")]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "No valid bearer token")]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "The token lacks the scope")]
    Forbidden(ErrorBody),
    #[response(status = 404, description = "No such venue, symbol or resource")]
    NotFound(ErrorBody),
    #[response(status = 429, description = "Too many requests for this token")]
    TooManyRequests(ErrorBody),
    #[response(
        status = 503,
        description = "Not available now (store down, no data yet)"
    )]
    Unavailable(ErrorBody),
}

/// The errors a change can answer.
#[allow(dead_code)]
#[derive(IntoResponses)]
pub enum WriteErrors {
    #[response(status = 400, description = "Malformed request")]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "No valid bearer token")]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "The token lacks the scope")]
    Forbidden(ErrorBody),
    #[response(status = 404, description = "No such venue, symbol or order")]
    NotFound(ErrorBody),
    #[response(status = 409, description = "Conflicts with the resource's state")]
    Conflict(ErrorBody),
    #[response(status = 422, description = "Refused by a pre-trade risk check")]
    Unprocessable(ErrorBody),
    #[response(status = 429, description = "Too many requests for this token")]
    TooManyRequests(ErrorBody),
    #[response(
        status = 503,
        description = "The venue or the store cannot take it now; retry later"
    )]
    Unavailable(ErrorBody),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_routed_operation_is_documented_with_a_scope() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                let security = op["security"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{method} {path} states no security requirement"));
                assert!(!security.is_empty(), "{method} {path}");
            }
        }
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    }
}
