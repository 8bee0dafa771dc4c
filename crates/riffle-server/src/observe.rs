//! The only non-AWS routes: `GET /metrics`, `GET /health/live` and
//! `GET /health/ready`. Every other request (any other method or path)
//! goes to the AWS handler unchanged, so e.g. `GET /` still gets AWS's 403.
//! In open mode every request, these included, first passes the `Host` check.

use crate::edge::{handle, refuse_host, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;

/// Entry point for every request.
pub(crate) async fn route(State(state): State<AppState>, req: Request<Body>) -> Response {
    if let Some(refused) = refuse_host(&state, &req) {
        return refused;
    }
    if req.method() == Method::GET {
        match req.uri().path() {
            "/metrics" => return metrics(&state),
            "/health/live" => return json(StatusCode::OK, r#"{"status":"live"}"#.into()),
            "/health/ready" => return ready(&state).await,
            _ => {}
        }
    }
    handle(State(state), req).await
}

fn metrics(state: &AppState) -> Response {
    match state.metrics.render() {
        Ok(text) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", crate::metrics::CONTENT_TYPE)
            .body(Body::from(text))
            .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR)),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// Ready once every service says so (the engine is open and its data
/// directory takes a write, ...); the first that cannot serve says why.
async fn ready(state: &AppState) -> Response {
    let services = state.services.clone();
    let res = tokio::task::spawn_blocking(move || {
        services.iter().try_for_each(|s| {
            s.check_ready()
                .map_err(|e| format!("{}: {e}", s.spec().iam_prefix))
        })
    })
    .await;
    let reason = match res {
        Ok(Ok(())) => return json(StatusCode::OK, r#"{"status":"ready"}"#.into()),
        Ok(Err(e)) => e,
        Err(e) => e.to_string(),
    };
    json(
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::json!({"status": "not ready", "reason": reason}).to_string(),
    )
}

fn json(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR))
}

fn plain(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}
