//! Method dispatch (with each method's scope) and the read-only methods: health, status, models,
//! channels and usage.

use std::sync::atomic::Ordering;

use async_nats::jetstream::consumer::PullConsumer;
use pincer_proto::llm::v1 as pb;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Services;
use super::conn::Conn;
use super::frame::{self, Code, ErrorShape};
use crate::auth::Scope;

/// Declares every method once: its variant, wire name and the scope it needs.
macro_rules! methods {
    ($($variant:ident = $name:literal needs $scope:ident),* $(,)?) => {
        /// A control-plane method.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Method {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Method {
            /// Every method, in the order `hello-ok` lists them.
            pub const ALL: &[Method] = &[$(Method::$variant),*];

            /// The wire name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Method::$variant => $name,)*
                }
            }

            /// The scope a caller needs.
            pub fn scope(self) -> Scope {
                match self {
                    $(Method::$variant => Scope::$scope,)*
                }
            }
        }
    };
}

methods! {
    Health = "health" needs Read,
    Status = "status" needs Read,
    ChatSend = "chat.send" needs Write,
    ChatAbort = "chat.abort" needs Write,
    ChatHistory = "chat.history" needs Read,
    SessionsList = "sessions.list" needs Read,
    SessionsReset = "sessions.reset" needs Write,
    ModelsList = "models.list" needs Read,
    ModelsStatus = "models.status" needs Read,
    ChannelsStatus = "channels.status" needs Read,
    PairingList = "pairing.list" needs Read,
    PairingApprove = "pairing.approve" needs Pairing,
    PairingReject = "pairing.reject" needs Pairing,
    UsageStatus = "usage.status" needs Read,
    UsageCost = "usage.cost" needs Read,
    CronList = "cron.list" needs Read,
    CronStatus = "cron.status" needs Read,
    CronAdd = "cron.add" needs Write,
    CronUpdate = "cron.update" needs Write,
    CronRemove = "cron.remove" needs Write,
    CronRun = "cron.run" needs Write,
    ConfigGet = "config.get" needs Admin,
    ConfigPatch = "config.patch" needs Admin,
}

impl Method {
    /// The method called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|method| method.name() == name)
    }

    /// Every wire name, for `hello-ok.features.methods`.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|method| method.name()).collect()
    }
}

/// Runs one method for `conn`.
pub async fn call(
    services: &Services,
    conn: &std::sync::Arc<Conn>,
    method: &str,
    params: &Value,
) -> Result<Value, ErrorShape> {
    let Some(method) = Method::parse(method) else {
        return Err(ErrorShape::new(
            Code::NotFound,
            format!("unknown method {method:?}"),
        ));
    };
    let scope = method.scope();
    if !conn.scopes.allows(scope) {
        return Err(ErrorShape {
            // OpenClaw's MissingScopeErrorDetails.
            details: Some(json!({
                "code": "MISSING_SCOPE",
                "missingScope": scope.name(),
                "requiredScopes": [scope.name()],
            })),
            ..ErrorShape::new(
                Code::Forbidden,
                format!("{} needs the {} scope", method.name(), scope.name()),
            )
        });
    }
    match method {
        Method::Health => Ok(health(services).await),
        Method::Status => Ok(status(services)),
        Method::ChatSend => super::chat::send(services, conn, params).await,
        Method::ChatAbort => super::chat::abort(services, conn, params).await,
        Method::ChatHistory => super::sessions::history(services, params).await,
        Method::SessionsList => super::sessions::list(services, params).await,
        Method::SessionsReset => super::sessions::reset(services, params).await,
        Method::ModelsList => models_list(services).await,
        Method::ModelsStatus => models_status(services, params).await,
        Method::ChannelsStatus => Ok(channels_status(services).await),
        Method::PairingList => super::pairing::list(services).await,
        Method::CronList => super::cron::list(services).await,
        Method::CronStatus => super::cron::status(services).await,
        Method::CronAdd => super::cron::add(services, params).await,
        Method::CronUpdate => super::cron::update(services, params).await,
        Method::CronRemove => super::cron::remove(services, params).await,
        Method::CronRun => super::cron::run(services, params).await,
        Method::PairingApprove => super::pairing::decide(services, params, true).await,
        Method::PairingReject => super::pairing::decide(services, params, false).await,
        Method::UsageStatus => usage_status(services).await,
        Method::UsageCost => usage_cost(services, params).await,
        Method::ConfigGet => super::settings::get(services),
        Method::ConfigPatch => super::settings::patch(services, conn, params).await,
    }
}

async fn health(services: &Services) -> Value {
    let report = services.readiness.check().await;
    let check = |name: &str, check: &crate::readiness::Check| json!({ "name": name, "ok": check.ok, "detail": check.error });
    let mut checks = vec![
        check("nats", &report.nats),
        check("llm-router", &report.llm_router),
        check("agent-runner", &report.agent_runner),
    ];
    if let Some(tools) = &report.tools {
        checks.extend(tool_checks(tools));
    }
    json!({
        "ok": report.ok,
        "checks": checks,
        "tools": report.tools,
    })
}

/// A check for the tool host and one per MCP server: a server that is down is named, never
/// silently absent.
fn tool_checks(tools: &Value) -> Vec<Value> {
    let host = tools["host"].as_str().unwrap_or("unknown");
    if host == "none" {
        return Vec::new();
    }
    let mut checks = vec![json!({
        "name": "tool-host",
        "ok": host == "reachable",
        "detail": (host != "reachable").then(|| format!("the tool host is {host}")),
    })];
    for server in tools["servers"].as_array().into_iter().flatten() {
        let state = server["state"].as_str().unwrap_or("unknown");
        let ok = matches!(state, "connected" | "disabled");
        let detail = match server["lastError"].as_str() {
            Some(error) if !ok => format!("{state}: {error}"),
            _ => state.to_owned(),
        };
        checks.push(json!({
            "name": format!("mcp {}", server["name"].as_str().unwrap_or("?")),
            "ok": ok,
            "detail": detail,
        }));
    }
    checks
}

fn status(services: &Services) -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeMs": services.started.elapsed().as_millis() as u64,
        "connections": services.connections.load(Ordering::Relaxed),
        "agents": services.agents.ids(),
        "defaultAgent": services.agents.default_id(),
        "authMode": services.auth_mode,
        "bind": services.bind,
    })
}

fn router_error(error: &tonic::Status) -> ErrorShape {
    ErrorShape::new(
        Code::Unavailable,
        format!("llm-router: {}", error.message()),
    )
}

async fn models_list(services: &Services) -> Result<Value, ErrorShape> {
    let response = services
        .router
        .clone()
        .list_models(pb::ListModelsRequest {})
        .await
        .map_err(|e| router_error(&e))?;
    Ok(json!({ "models": pincer_proto::json::models(&response.into_inner().models) }))
}

/// `models.status {probe?}`: with `probe`, the router also asks every provider now (what
/// `pincer doctor` wants: reachability from where the router runs, not from the operator's host).
async fn models_status(services: &Services, params: &Value) -> Result<Value, ErrorShape> {
    let probe = params["probe"].as_bool().unwrap_or(false);
    let response = services
        .router
        .clone()
        .status(pb::StatusRequest { probe })
        .await
        .map_err(|e| router_error(&e))?;
    Ok(pincer_proto::json::status(&response.into_inner()))
}

/// Pending messages of a work-queue consumer, and whether a client is pulling on it right now.
async fn consumer_state(services: &Services, stream: &str, consumer: &str) -> Value {
    let Ok(mut stream) = services.js.get_stream(stream).await else {
        return json!({ "error": "stream not found" });
    };
    let found: Result<PullConsumer, _> = stream.get_consumer(consumer).await;
    let Ok(mut consumer) = found else {
        let messages = stream.info().await.map_or(0, |info| info.state.messages);
        return json!({ "pending": messages, "consumer": false });
    };
    match consumer.info().await {
        Ok(info) => json!({
            "pending": info.num_pending,
            "unacked": info.num_ack_pending,
            "pulling": info.num_waiting,
        }),
        Err(error) => json!({ "error": error.to_string() }),
    }
}

async fn channels_status(services: &Services) -> Value {
    let ns = &services.namespace;
    let mut channels = Vec::new();
    for account in &services.channels {
        // The bridge's consumer names: one sender per channel, one inbound consumer per account.
        let sender = format!("channel-bridge-{}", account.channel);
        let outbound = consumer_state(services, &ns.channel_outbound_stream(), &sender).await;
        let inbound = consumer_state(
            services,
            &ns.channel_inbound_stream(),
            &format!("{sender}-{}", account.account),
        )
        .await;
        let connection = match &services.channel_state {
            Some(state) => {
                match pincer_store::channel_health::get(state, &account.channel, &account.account)
                    .await
                {
                    Ok(Some(health)) => serde_json::to_value(health).unwrap_or_default(),
                    Ok(None) => {
                        json!({ "state": "unknown", "detail": "the channel-bridge has not reported this account" })
                    }
                    Err(error) => json!({ "state": "unknown", "detail": error.to_string() }),
                }
            }
            None => json!({ "state": "unknown" }),
        };
        channels.push(json!({
            "channel": account.channel,
            "account": account.account,
            "mode": account.mode,
            "connection": connection,
            "inbound": inbound,
            "outbound": outbound,
        }));
    }
    let turns = consumer_state(services, &ns.turns_stream(), &ns.turns_consumer()).await;
    json!({ "channels": channels, "turns": turns })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CostParams {
    #[serde(default = "thirty")]
    days: u32,
}

fn thirty() -> u32 {
    30
}

fn totals_json(totals: &pincer_store::usage::Totals) -> Value {
    json!({
        "turns": totals.turns,
        "promptTokens": totals.prompt_tokens,
        "completionTokens": totals.completion_tokens,
        "costUsd": totals.cost_micro_usd as f64 / 1e6,
    })
}

async fn read_days(
    services: &Services,
    days: u32,
) -> Result<Vec<(String, pincer_store::usage::Day)>, ErrorShape> {
    pincer_store::usage::last_days(&services.usage, pincer_clock::now_ms(), days)
        .await
        .map_err(|e| ErrorShape::new(Code::Unavailable, e.to_string()))
}

async fn usage_status(services: &Services) -> Result<Value, ErrorShape> {
    let days = read_days(services, 30).await?;
    let mut month = pincer_store::usage::Totals::default();
    let mut today = pincer_store::usage::Totals::default();
    let last = days.len().saturating_sub(1);
    for (index, (_, day)) in days.iter().enumerate() {
        for totals in day.values() {
            month.merge(totals);
            if index == last {
                today.merge(totals);
            }
        }
    }
    Ok(json!({ "today": totals_json(&today), "last30Days": totals_json(&month) }))
}

async fn usage_cost(services: &Services, params: &Value) -> Result<Value, ErrorShape> {
    let params: CostParams = frame::params(params)?;
    if !(1..=366).contains(&params.days) {
        return Err(ErrorShape::invalid("days must be between 1 and 366"));
    }
    let days = read_days(services, params.days).await?;
    let mut by_model: std::collections::BTreeMap<String, pincer_store::usage::Totals> =
        Default::default();
    let mut total = pincer_store::usage::Totals::default();
    let days_json: Vec<Value> = days
        .iter()
        .map(|(date, day)| {
            let models: Vec<Value> = day
                .iter()
                .map(|(model, totals)| {
                    by_model.entry(model.clone()).or_default().merge(totals);
                    total.merge(totals);
                    let mut entry = totals_json(totals);
                    entry["model"] = json!(model);
                    entry
                })
                .collect();
            json!({ "date": date, "models": models })
        })
        .collect();
    let models: Vec<Value> = by_model
        .iter()
        .map(|(model, totals)| {
            let mut entry = totals_json(totals);
            entry["model"] = json!(model);
            entry
        })
        .collect();
    Ok(json!({ "days": days_json, "models": models, "total": totals_json(&total) }))
}
