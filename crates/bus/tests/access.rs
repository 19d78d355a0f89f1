//! The bus refuses anonymous clients and keeps each service to its subjects, against a real
//! nats-server running the generated authorization block.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pincer_bus::Namespace;
use pincer_bus::access::{Role, server_config};
use pincer_bus::connect::{Credentials, connect};
use pincer_test_support::NatsServer;

fn password(role: Role) -> String {
    format!("pw-{}", role.user())
}

fn server() -> NatsServer {
    let env = Role::ALL
        .into_iter()
        .map(|role| (role.password_variable().to_owned(), password(role)))
        .collect();
    NatsServer::start_with_config(&server_config(&Namespace::default()), env)
}

fn credentials(role: Role) -> Credentials {
    Credentials::new(role.user(), &password(role))
}

/// A client of `role` that records the server's errors (permission violations).
async fn client_recording(
    nats: &NatsServer,
    role: Role,
) -> (async_nats::Client, Arc<Mutex<Vec<String>>>) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    let client =
        async_nats::ConnectOptions::with_user_and_password(role.user().to_owned(), password(role))
            .custom_inbox_prefix(pincer_bus::access::inbox_prefix(role.user()))
            .request_timeout(Some(Duration::from_millis(500)))
            .event_callback(move |event| {
                let seen = seen.clone();
                async move {
                    if let async_nats::Event::ServerError(error) = event {
                        seen.lock().expect("lock").push(error.to_string());
                    }
                }
            })
            .connect(nats.url())
            .await
            .expect("connects");
    (client, errors)
}

async fn violation(errors: &Arc<Mutex<Vec<String>>>, subject: &str) -> String {
    pincer_test_support::eventually(
        &format!("a permissions violation for {subject}"),
        Duration::from_secs(10),
        || {
            let found = errors
                .lock()
                .expect("lock")
                .iter()
                .find(|error| {
                    error.to_lowercase().contains("permissions violation")
                        && error.contains(subject)
                })
                .cloned();
            async move { found }
        },
    )
    .await
}

#[tokio::test]
async fn anonymous_and_wrong_passwords_are_refused() {
    let nats = server();
    let anonymous = connect(&nats.url(), "anonymous", None, Duration::from_secs(2)).await;
    assert!(anonymous.is_err(), "an anonymous client is refused");
    let wrong = Credentials::new("gateway", "not-the-password");
    let error = connect(
        &nats.url(),
        "intruder",
        Some(&wrong),
        Duration::from_secs(2),
    )
    .await
    .expect_err("a wrong password is refused");
    assert!(
        error.to_string().contains("refused the credentials"),
        "{error}"
    );
    for role in Role::ALL {
        connect(
            &nats.url(),
            role.user(),
            Some(&credentials(role)),
            Duration::from_secs(5),
        )
        .await
        .unwrap_or_else(|error| panic!("{role:?} signs in: {error}"));
    }
}

#[tokio::test]
async fn a_service_cannot_read_what_is_not_its_business() {
    let nats = server();
    let ns = Namespace::default();
    let runner = connect(
        &nats.url(),
        "runner",
        Some(&credentials(Role::AgentRunner)),
        Duration::from_secs(5),
    )
    .await
    .expect("runner");
    let js = async_nats::jetstream::new(runner);
    pincer_bus::setup::ensure_all(&js, &ns)
        .await
        .expect("the runner sets up");
    let sessions = pincer_bus::setup::sessions_bucket(&js, &ns)
        .await
        .expect("sessions");
    sessions
        .put("agent_main_x", "transcript".into())
        .await
        .expect("the runner writes");

    // The bridge subscribes to turns and aborts: refused by the server.
    let (bridge, errors) = client_recording(&nats, Role::ChannelBridge).await;
    let _turns = bridge.subscribe(ns.turns_filter()).await.expect("sent");
    violation(&errors, &ns.turns_filter()).await;
    let _others = bridge.subscribe("_INBOX_gateway.>").await.expect("sent");
    violation(&errors, "_INBOX_gateway.>").await;
    // ... and reading a transcript: no answer ever comes back.
    let bridge_js = async_nats::jetstream::new(bridge.clone());
    let stolen = match bridge_js.get_key_value(ns.sessions_bucket()).await {
        Ok(kv) => kv.get("agent_main_x").await.ok().flatten(),
        Err(_) => None,
    };
    assert!(stolen.is_none(), "the bridge read a transcript");
    violation(&errors, "KV_pincer_sessions").await;

    // The router only has its health bucket.
    let (router, errors) = client_recording(&nats, Role::LlmRouter).await;
    router
        .publish(ns.turn("main"), "forged".into())
        .await
        .expect("sent");
    router.flush().await.expect("flush");
    violation(&errors, &ns.turn("main")).await;

    // What a service needs still works: the gateway reads the transcript.
    let gateway = connect(
        &nats.url(),
        "gateway",
        Some(&credentials(Role::Gateway)),
        Duration::from_secs(5),
    )
    .await
    .expect("gateway");
    let gateway_js = async_nats::jetstream::new(gateway);
    let read = pincer_bus::setup::sessions_bucket(&gateway_js, &ns)
        .await
        .expect("opens")
        .get("agent_main_x")
        .await
        .expect("reads");
    assert_eq!(read.as_deref(), Some(&b"transcript"[..]));
}
