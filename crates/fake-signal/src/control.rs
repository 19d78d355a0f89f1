//! The control API under `/control`, for a fake running as a process: the handle's main
//! operations as JSON over HTTP.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::knobs::Fault;
use crate::routes::Daemon;
use crate::spec::{Incoming, Person};
use crate::state::FakeError;

#[derive(Debug, Deserialize)]
struct NewAccount {
    number: String,
}

#[derive(Debug, Deserialize)]
struct NewGroup {
    name: String,
    #[serde(default)]
    members: Vec<Person>,
}

#[derive(Debug, Deserialize)]
struct Faults {
    count: usize,
    fault: Fault,
}

/// The routes.
pub fn routes() -> axum::Router<Daemon> {
    axum::Router::new()
        .route("/accounts", post(add_account))
        .route("/accounts/{number}/groups", post(add_group))
        .route("/accounts/{number}/messages", post(say))
        .route("/accounts/{number}/sent", get(sent))
        .route("/accounts/{number}/typing", get(typing))
        .route("/accounts/{number}/faults/{method}", post(fail_next))
        .route("/accounts/{number}/drop", post(drop_streams))
}

fn answer<T: serde::Serialize>(result: Result<T, FakeError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": error.to_string() })),
        )
            .into_response(),
    }
}

async fn add_account(State(daemon): State<Daemon>, Json(body): Json<NewAccount>) -> Response {
    answer(daemon.world.add_account(&body.number))
}

async fn add_group(
    State(daemon): State<Daemon>,
    Path(number): Path<String>,
    Json(body): Json<NewGroup>,
) -> Response {
    let id = crate::new_group_id();
    let group = crate::state::Group {
        name: body.name,
        members: body.members,
    };
    answer(
        daemon
            .world
            .change(&number, |a| a.groups.insert(id.clone(), group))
            .map(|_| json!({ "id": id })),
    )
}

async fn say(
    State(daemon): State<Daemon>,
    Path(number): Path<String>,
    Json(incoming): Json<Incoming>,
) -> Response {
    answer(crate::inject(&daemon.world, &number, &incoming))
}

async fn sent(State(daemon): State<Daemon>, Path(number): Path<String>) -> Response {
    answer(daemon.world.change(&number, |a| a.sent.clone()))
}

async fn typing(State(daemon): State<Daemon>, Path(number): Path<String>) -> Response {
    answer(daemon.world.change(&number, |a| a.typing.clone()))
}

async fn fail_next(
    State(daemon): State<Daemon>,
    Path((number, method)): Path<(String, String)>,
    Json(body): Json<Faults>,
) -> Response {
    answer(daemon.world.change(&number, |a| {
        let faults = a.faults.entry(method).or_default();
        faults.extend(std::iter::repeat_n(body.fault, body.count));
    }))
}

async fn drop_streams(State(daemon): State<Daemon>, Path(number): Path<String>) -> Response {
    let dropped = daemon.world.lock().end_streams(&number);
    Json(json!({ "dropped": dropped })).into_response()
}
