//! The whole-stack tests, one binary for all of them: a test binary links every service, the
//! fakes and testcontainers, and fifteen of them cost more build time than every test they held.
//! nextest still runs each test in its own process; `.config/nextest.toml` selects the compose
//! tests by module.

mod agent;
mod bluebubbles;
mod compose;
mod containers;
mod control;
mod control_ui;
mod cron;
mod discord;
mod first_run;
mod gateway_auth;
mod gateway_keys;
mod gateway_limits;
mod metrics;
mod otlp;
mod replicas;
mod shipping;
mod signal;
mod slack;
mod stack;
mod subagents;
mod telegram;
mod tools;
mod turn_cost;
mod whatsapp;
