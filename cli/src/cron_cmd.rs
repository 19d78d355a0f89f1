//! `pincer cron add|list|remove|run|enable|disable`: scheduled jobs, through the gateway's control
//! plane (the scheduler and its store live behind it).

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::output;
use crate::target::{self, Gateway};

/// `pincer cron`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pincer cron add --at +10m --message \"stand up\" --to telegram:123456789\n  pincer cron add --every 1h --message \"check the build\" --name build\n  pincer cron add --cron \"0 7 * * 1-5\" --tz Europe/Berlin --message \"morning brief\" --to slack:C0123\n  pincer cron list\n  pincer cron run 3f2a9c1b7d4e\n  pincer cron remove 3f2a9c1b7d4e"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    target: target::GatewayArgs,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Schedule a job: one of --at, --every, --cron; and --message.
    Add(Box<Add>),
    /// Every job: id, schedule, next and last run.
    List,
    /// Remove a job.
    Remove(Id),
    /// Run a job now, whatever its schedule.
    Run(Id),
    /// Let a job fire again.
    Enable(Id),
    /// Keep a job but stop it firing.
    Disable(Id),
}

#[derive(clap::Args)]
struct Id {
    /// The job's id (`pincer cron list`).
    id: String,
}

#[derive(clap::Args)]
struct Add {
    /// Once: an RFC 3339 time (2026-12-05T07:00:00Z) or +30s, +10m, +2h from now.
    #[arg(long, conflicts_with_all = ["every", "cron"], required_unless_present_any = ["every", "cron"])]
    at: Option<String>,
    /// Repeat at this interval: 30m, 1h, 1d.
    #[arg(long, conflicts_with = "cron")]
    every: Option<String>,
    /// A cron expression: "0 7 * * *" (five fields, or six with seconds first).
    #[arg(long)]
    cron: Option<String>,
    /// The time zone of --cron (an IANA name; default UTC).
    #[arg(long, requires = "cron")]
    tz: Option<String>,
    /// What the agent is asked.
    #[arg(long, short)]
    message: String,
    /// Send the answer to CHANNEL:CHAT, e.g. telegram:123456789 or slack:C0123 (default: kept in
    /// the job's session).
    #[arg(long, value_name = "CHANNEL:CHAT")]
    to: Option<String>,
    /// The channel account that sends the answer (default `default`).
    #[arg(long)]
    account: Option<String>,
    /// The agent (default: the default agent).
    #[arg(long)]
    agent: Option<String>,
    /// A label.
    #[arg(long)]
    name: Option<String>,
    /// Run in the agent's main session instead of a fresh one per run.
    #[arg(long)]
    main_session: bool,
    /// Keep a one-shot job after it ran.
    #[arg(long)]
    keep_after_run: bool,
    /// Thinking level of the runs (off, minimal, low, medium, high, xhigh).
    #[arg(long)]
    thinking: Option<String>,
}

impl Add {
    /// The `cron.add` parameters; an error for a malformed --to.
    fn params(&self) -> Result<Value, String> {
        let mut params = json!({ "message": self.message });
        for (key, value) in [
            ("at", &self.at),
            ("every", &self.every),
            ("cron", &self.cron),
            ("tz", &self.tz),
            ("agentId", &self.agent),
            ("name", &self.name),
            ("thinking", &self.thinking),
            ("accountId", &self.account),
        ] {
            if let Some(value) = value {
                params[key] = json!(value);
            }
        }
        if let Some(to) = &self.to {
            let (channel, chat) = to
                .split_once(':')
                .filter(|(channel, chat)| !channel.is_empty() && !chat.is_empty())
                .ok_or_else(|| {
                    format!("--to {to:?}: write CHANNEL:CHAT, e.g. telegram:123456789")
                })?;
            params["channel"] = json!(channel);
            params["to"] = json!(chat);
        }
        if self.main_session {
            params["sessionTarget"] = json!("main");
        }
        if self.keep_after_run {
            params["deleteAfterRun"] = json!(false);
        }
        Ok(params)
    }
}

/// Runs `pincer cron ...`.
pub async fn run(args: Args) -> ExitCode {
    let gateway = match target::resolve_or_exit(&args.target) {
        Ok(gateway) => gateway,
        Err(code) => return code,
    };
    let json_out = args.json;
    match args.command {
        Command::Add(add) => match add.params() {
            Ok(params) => {
                call(&gateway, "cron.add", params, json_out, |p| {
                    let job = &p["job"];
                    format!(
                        "scheduled {} ({}), next run {}",
                        job["id"].as_str().unwrap_or("?"),
                        job["scheduleText"].as_str().unwrap_or("?"),
                        when(&job["state"]["nextRunAtMs"]),
                    )
                })
                .await
            }
            Err(message) => {
                eprintln!("pincer cron add: {message}");
                ExitCode::from(2)
            }
        },
        Command::List => list(&gateway, json_out).await,
        Command::Remove(Id { id }) => {
            call(
                &gateway,
                "cron.remove",
                json!({ "id": id }),
                json_out,
                |_| format!("removed job {id}"),
            )
            .await
        }
        Command::Run(Id { id }) => {
            call(&gateway, "cron.run", json!({ "id": id }), json_out, |p| {
                format!(
                    "job {id} is running (turn {})",
                    p["runId"].as_str().unwrap_or("?")
                )
            })
            .await
        }
        Command::Enable(Id { id }) => toggle(&gateway, &id, true, json_out).await,
        Command::Disable(Id { id }) => toggle(&gateway, &id, false, json_out).await,
    }
}

async fn toggle(gateway: &Gateway, id: &str, enabled: bool, json_out: bool) -> ExitCode {
    let params = json!({ "id": id, "patch": { "enabled": enabled } });
    call(gateway, "cron.update", params, json_out, |p| {
        let state = if enabled { "enabled" } else { "disabled" };
        format!(
            "job {id} {state}; next run {}",
            when(&p["job"]["state"]["nextRunAtMs"])
        )
    })
    .await
}

async fn call(
    gateway: &Gateway,
    method: &str,
    params: Value,
    json_out: bool,
    say: impl FnOnce(&Value) -> String,
) -> ExitCode {
    match target::call(gateway, method, params).await {
        Ok(payload) if json_out => {
            output::json(&payload);
            ExitCode::SUCCESS
        }
        Ok(payload) => {
            println!("{}", say(&payload));
            ExitCode::SUCCESS
        }
        Err(code) => ExitCode::from(code),
    }
}

/// A time in milliseconds as RFC 3339, or `-`.
fn when(ms: &Value) -> String {
    ms.as_u64().map_or_else(
        || "-".to_owned(),
        |ms| pincer_clock::rfc3339(std::time::Duration::from_millis(ms)),
    )
}

async fn list(gateway: &Gateway, json_out: bool) -> ExitCode {
    match target::call(gateway, "cron.list", json!({})).await {
        Ok(payload) if json_out => {
            output::json(&payload["jobs"]);
            ExitCode::SUCCESS
        }
        Ok(payload) => {
            let jobs = payload["jobs"].as_array().cloned().unwrap_or_default();
            if jobs.is_empty() {
                println!("no scheduled jobs (add one with `pincer cron add`)");
                return ExitCode::SUCCESS;
            }
            let rows: Vec<Vec<String>> = jobs
                .iter()
                .map(|job| {
                    let delivery = &job["delivery"];
                    let to = match (delivery["channel"].as_str(), delivery["to"].as_str()) {
                        (Some(channel), Some(to)) if delivery["mode"] != "none" => {
                            format!("{channel}:{to}")
                        }
                        _ => "-".to_owned(),
                    };
                    let state = &job["state"];
                    let last = match state["lastStatus"].as_str() {
                        Some(status) => format!(
                            "{status} {}",
                            output::ago(state["lastRunAtMs"].as_u64().unwrap_or(0))
                        ),
                        None => "-".to_owned(),
                    };
                    vec![
                        job["id"].as_str().unwrap_or("").to_owned(),
                        job["name"].as_str().unwrap_or("-").to_owned(),
                        job["agentId"].as_str().unwrap_or("").to_owned(),
                        job["scheduleText"].as_str().unwrap_or("").to_owned(),
                        if job["enabled"] == true {
                            when(&state["nextRunAtMs"])
                        } else {
                            "disabled".to_owned()
                        },
                        last,
                        to,
                    ]
                })
                .collect();
            output::table(
                &["ID", "NAME", "AGENT", "SCHEDULE", "NEXT", "LAST", "TO"],
                &rows,
            );
            ExitCode::SUCCESS
        }
        Err(code) => ExitCode::from(code),
    }
}
