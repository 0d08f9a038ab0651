//! `GET /api/v1/locks`: the lockable resources, who holds each, and the builds waiting
//! (read-only: locks are taken and released by builds alone).

use crate::AppState;
use axum::Json;
use axum::extract::State;
use kiln_engine::BuildId;
use kiln_scheduler::LocksView;
use serde_json::{Value, json};

pub async fn list(State(state): State<AppState>) -> Json<Value> {
    Json(view(&state.scheduler().locks()))
}

fn build(id: &BuildId) -> Value {
    json!({ "job": id.job, "number": id.number, "name": id.to_string() })
}

pub(crate) fn view(v: &LocksView) -> Value {
    let resources: Vec<Value> = v
        .resources
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "labels": r.labels,
                "description": r.description,
                "held_by": r.holder.as_ref().map(build),
            })
        })
        .collect();
    let waiting: Vec<Value> = v
        .waiting
        .iter()
        .map(|w| {
            json!({
                "build": build(&w.build),
                "wants": w.wants,
                "quantity": w.quantity,
                "inverse_precedence": w.inverse_precedence,
            })
        })
        .collect();
    json!({ "resources": resources, "waiting": waiting })
}
