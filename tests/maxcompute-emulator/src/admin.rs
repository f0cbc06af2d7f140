//! The unsigned admin endpoints (loopback only, checked by `server.rs`):
//! `GET /_emulator/health` for readiness, and `GET|POST|DELETE /_emulator/faults` to list, add
//! and clear fault-injection rules. Nothing here touches stored data.

use axum::http::Method;
use axum::response::{IntoResponse, Response};

use crate::faults::FaultRule;
use crate::incoming::Request;
use crate::service_error::{EmuError, EmuResult};
use crate::state::AppState;

pub fn handle(state: &AppState, req: &Request) -> EmuResult<Response> {
    let json = |v: serde_json::Value| {
        ([("content-type", "application/json")], v.to_string()).into_response()
    };
    match (req.segment(1), &req.method) {
        (Some("health"), &Method::GET) => Ok(json(
            serde_json::json!({"status": "ok", "endpoint": state.endpoint}),
        )),
        (Some("faults"), &Method::GET) => {
            Ok(json(serde_json::json!({"faults": state.faults.list()})))
        }
        (Some("faults"), &Method::POST) => {
            let rule: FaultRule = serde_json::from_slice(&req.body).map_err(EmuError::FaultRule)?;
            state.faults.add(rule.clone());
            Ok(json(serde_json::json!({"added": rule})))
        }
        (Some("faults"), &Method::DELETE) => {
            state.faults.clear();
            Ok(json(serde_json::json!({"faults": []})))
        }
        _ => Err(EmuError::NoSuchObject(format!(
            "no admin endpoint {} {}",
            req.method, req.resource
        ))),
    }
}
