//! The built images (`scripts/build-images.sh`) on a Docker network: NATS, the four services and
//! the fake provider. A chat turn through the gateway, streaming and not, then every container is
//! stopped and started again and a follow-up turn still carries the history.

use std::time::Duration;

use pincer_system_tests::image_tag as tag;
use pincer_test_support::wait_http_ok;
use serde_json::{Value, json};
use testcontainers::core::{ContainerPort, IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

const TOKEN: &str = "container-test-token-5f1c0a9e7d3b2c48";
const ROUTER_TOKEN: &str = "container-test-router-token";

fn nats_password(role: pincer_bus::access::Role) -> String {
    format!("container-test-{}", role.user())
}

/// The role each image signs in to the bus as.
fn role_of(image: &str) -> Option<pincer_bus::access::Role> {
    use pincer_bus::access::Role;
    Role::ALL.into_iter().find(|role| role.user() == image)
}

const CONFIG: &str = r#"{
  gateway: { port: 18789, auth: { mode: "token", token: "${PINCER_GATEWAY_TOKEN}" } },
  models: { providers: { ollama: { baseUrl: "${FAKE_URL}", api: "ollama", models: [{ id: "fake-model" }] } } },
  agents: { defaults: { model: { primary: "ollama/fake-model" }, timeout: 30 } },
  channels: { telegram: { enabled: false } },
}"#;

struct Names {
    network: String,
    nats: String,
    router: String,
    fake: String,
}

fn image(name: &str) -> GenericImage {
    GenericImage::new(format!("pincer/{name}"), tag()).with_wait_for(WaitFor::healthcheck())
}

async fn start(
    request: testcontainers::ContainerRequest<GenericImage>,
    what: &str,
) -> ContainerAsync<GenericImage> {
    request
        .with_startup_timeout(Duration::from_secs(60))
        .start()
        .await
        .unwrap_or_else(|error| {
            panic!("cannot start the {what} image ({error}); build the images first with scripts/build-images.sh")
        })
}

fn service(name: &str, names: &Names) -> testcontainers::ContainerRequest<GenericImage> {
    let role = role_of(name).expect("a service image");
    image(name)
        .with_network(&names.network)
        .with_env_var("PINCER_NATS_USER", role.user())
        .with_env_var("PINCER_NATS_PASSWORD", nats_password(role))
        .with_env_var("PINCER_LLM_ROUTER_TOKEN", ROUTER_TOKEN)
        .with_copy_to("/etc/pincer/pincer.json5", CONFIG.as_bytes().to_vec())
        .with_env_var("PINCER_CONFIG", "/etc/pincer/pincer.json5")
        .with_env_var("PINCER_NATS_URL", format!("nats://{}:4222", names.nats))
        .with_env_var(
            "PINCER_LLM_ROUTER_URL",
            format!("http://{}:50051", names.router),
        )
        .with_env_var("PINCER_LLM_ROUTER_LISTEN", "0.0.0.0:50051")
        .with_env_var("PINCER_GATEWAY_BIND", "lan")
        .with_env_var("PINCER_GATEWAY_TOKEN", TOKEN)
        .with_env_var("FAKE_URL", format!("http://{}:8080", names.fake))
        .with_env_var("RUST_LOG", "info")
}

async fn gateway_url(gateway: &ContainerAsync<GenericImage>) -> String {
    let port = gateway
        .get_host_port_ipv4(18789.tcp())
        .await
        .expect("gateway port is published");
    format!("http://127.0.0.1:{port}")
}

async fn wait_ready(base: &str) {
    wait_http_ok(&format!("{base}/readyz"), Duration::from_secs(60)).await;
}

async fn chat(client: &reqwest::Client, base: &str, body: Value) -> reqwest::Response {
    client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("gateway answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_turns_through_the_container_images_survive_a_full_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let id = std::process::id();
    let names = Names {
        network: format!("pincer-it-{id}"),
        nats: format!("pincer-it-nats-{id}"),
        router: format!("pincer-it-router-{id}"),
        fake: format!("pincer-it-fake-{id}"),
    };

    let mut nats = image("nats")
        .with_network(&names.network)
        .with_container_name(&names.nats);
    for role in pincer_bus::access::Role::ALL {
        nats = nats.with_env_var(role.password_variable(), nats_password(role));
    }
    let nats = start(nats, "nats").await;
    let fake = start(
        image("fake-provider")
            .with_exposed_port(ContainerPort::Tcp(8080))
            .with_network(&names.network)
            .with_container_name(&names.fake)
            .with_cmd(["--host", "0.0.0.0", "--port", "8080", "--tokens", "3"]),
        "fake-provider",
    )
    .await;
    let router = start(
        service("llm-router", &names).with_container_name(&names.router),
        "llm-router",
    )
    .await;
    let runner = start(service("agent-runner", &names), "agent-runner").await;
    let bridge = start(service("channel-bridge", &names), "channel-bridge").await;
    let gateway = start(
        service("gateway", &names).with_mapped_port(0, ContainerPort::Tcp(18789)),
        "gateway",
    )
    .await;

    let client = reqwest::Client::new();
    let base = gateway_url(&gateway).await;
    wait_ready(&base).await;

    let first = chat(
        &client,
        &base,
        json!({ "model": "pincer/default", "user": "zoe",
        "messages": [{ "role": "user", "content": "hi" }] }),
    )
    .await;
    assert_eq!(first.status(), 200);
    let body: Value = first.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "alpha bravo charlie"
    );

    let streamed = chat(
        &client,
        &base,
        json!({ "model": "openclaw/default", "stream": true,
        "messages": [{ "role": "user", "content": "stream please" }] }),
    )
    .await;
    assert_eq!(streamed.status(), 200);
    let text = streamed.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(text.contains("charlie"), "{text}");

    // Stop everything (SIGTERM, as `docker stop` does) and start it again: NATS keeps its store.
    let services = [&gateway, &bridge, &runner, &router];
    for container in services {
        container
            .stop_with_timeout(Some(15))
            .await
            .expect("service stops");
    }
    nats.stop_with_timeout(Some(15)).await.expect("nats stops");
    nats.start().await.expect("nats starts again");
    for container in services.iter().rev() {
        container.start().await.expect("service starts again");
    }
    let base = gateway_url(&gateway).await;
    wait_ready(&base).await;

    let again = chat(
        &client,
        &base,
        json!({ "model": "pincer/default", "user": "zoe",
        "messages": [{ "role": "user", "content": "still there?" }] }),
    )
    .await;
    assert_eq!(again.status(), 200);
    let fake_port = fake.get_host_port_ipv4(8080.tcp()).await.unwrap();
    let stats: Value = client
        .get(format!("http://127.0.0.1:{fake_port}/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sent: Vec<&str> = stats["last_request"]["body"]["messages"]
        .as_array()
        .expect("the fake recorded the last request")
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        sent[1..],
        ["hi", "alpha bravo charlie", "still there?"],
        "history survived the restart"
    );
}
