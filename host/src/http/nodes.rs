//! `/v1/nodes`: the nodes sharing the store, and draining one (admin only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::problem::Problem;
use crate::api::{NodeInfo, NodeList};
use crate::store::Node;
use crate::workflow::WorkflowEngine;
use std::sync::Arc;

/// `GET /v1/nodes`: every node that beat in the last minute.
pub(crate) async fn list(
    State(workflows): State<Arc<WorkflowEngine>>,
) -> Result<Json<NodeList>, Problem> {
    let nodes = workflows.nodes().await?;
    Ok(Json(NodeList {
        this_node: workflows.node_id().to_string(),
        nodes: nodes.into_iter().map(node_info).collect(),
    }))
}

/// `POST /v1/nodes/{id}/drain`: the node claims no new executions from its next beat on;
/// its runs in progress go on.
pub(crate) async fn drain(
    State(workflows): State<Arc<WorkflowEngine>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, Problem> {
    if !workflows.drain(&id).await? {
        return Err(Problem::not_found(format!("no node {id}")));
    }
    Ok(StatusCode::ACCEPTED)
}

fn node_info(node: Node) -> NodeInfo {
    NodeInfo {
        id: node.id,
        address: node.address,
        started_at: node.started_at,
        beat_at: node.beat_at,
        draining: node.draining,
        stopped_at: node.stopped_at,
        leases: node.leases,
    }
}
