//! WhatsApp, Signal and iMessage. With the stack down, each is asked from this machine (the
//! Graph API takes the access token, the signal-cli daemon answers its health check, the
//! BlueBubbles server takes its password). With it up, the bridge's own report covers the
//! accounts (see `channels.rs`) and the webhooks are tried through the gateway: Meta's
//! verification request with the configured verify token, and a BlueBubbles call with the server
//! password, so a route or a secret the gateway lacks shows before Meta or the Mac find out.

use serde_json::{Value, json};

use super::{Check, State, check};

/// Whether any of the three channels is on.
pub(super) fn any(config: &pincer_config::Config) -> bool {
    let channels = &config.channels;
    channels.whatsapp.as_ref().is_some_and(|w| w.enabled)
        || channels.signal.as_ref().is_some_and(|s| s.enabled)
        || channels.bluebubbles.as_ref().is_some_and(|b| b.enabled)
}

/// The checks asked from this machine.
pub(super) async fn direct_checks(
    config: &pincer_config::Config,
    http: &reqwest::Client,
    out: &mut Vec<Check>,
) {
    let channels = &config.channels;
    if let Some(whatsapp) = channels.whatsapp.as_ref().filter(|w| w.enabled) {
        for (name, number) in whatsapp.resolved_accounts() {
            out.push(whatsapp_check(http, &name, &number).await);
        }
    }
    if let Some(signal) = channels.signal.as_ref().filter(|s| s.enabled) {
        for (name, number) in signal.resolved_accounts() {
            out.push(signal_check(http, &name, &number).await);
        }
    }
    if let Some(bluebubbles) = channels.bluebubbles.as_ref().filter(|b| b.enabled) {
        for (name, server) in bluebubbles.resolved_accounts() {
            out.push(bluebubbles_check(http, &name, &server).await);
        }
    }
}

async fn whatsapp_check(
    http: &reqwest::Client,
    name: &str,
    number: &pincer_config::WhatsApp,
) -> Check {
    let label = format!("whatsapp {name}");
    let (Some(id), Some(token)) = (&number.phone_number_id, &number.access_token) else {
        return check(
            label,
            State::Fail,
            "no phoneNumberId or accessToken",
            "set both in channels.whatsapp",
        );
    };
    let url = format!(
        "{}/{id}?fields=display_phone_number,verified_name",
        number.api_base()
    );
    let answer = http
        .get(url)
        .header(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", token.expose().trim()),
        )
        .send()
        .await;
    match answer {
        Err(why) => check(
            label,
            State::Skip,
            format!("Meta not reachable from here: {}", why.without_url()),
            "",
        ),
        Ok(response) => {
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            match status {
                200 => check(
                    label,
                    State::Ok,
                    format!(
                        "token accepted for {} ({})",
                        body["display_phone_number"].as_str().unwrap_or("?"),
                        body["verified_name"].as_str().unwrap_or("?")
                    ),
                    "",
                ),
                401 => check(
                    label,
                    State::Fail,
                    "Meta refused the access token",
                    "create a system user token with whatsapp_business_messaging and set WHATSAPP_ACCESS_TOKEN",
                ),
                _ => check(
                    label,
                    State::Fail,
                    format!(
                        "the number lookup answered HTTP {status}: {}",
                        body["error"]["message"].as_str().unwrap_or("no details")
                    ),
                    "check channels.whatsapp.phoneNumberId (the id, not the number)",
                ),
            }
        }
    }
}

async fn signal_check(http: &reqwest::Client, name: &str, number: &pincer_config::Signal) -> Check {
    let label = format!("signal {name}");
    let base = number.http_base();
    let account = number.account.as_deref().unwrap_or("+…");
    let start = format!(
        "start it: signal-cli -a {account} daemon --http 0.0.0.0:8080 --receive-mode=on-connection (and point channels.signal.httpUrl at it)"
    );
    match http.get(format!("{base}/api/v1/check")).send().await {
        Ok(response) if response.status().is_success() => check(
            label,
            State::Ok,
            format!("signal-cli daemon answers at {base}"),
            "",
        ),
        Ok(response) => check(
            label,
            State::Fail,
            format!(
                "{base}/api/v1/check answered HTTP {}",
                response.status().as_u16()
            ),
            start,
        ),
        Err(why) => check(
            label,
            State::Fail,
            format!("no signal-cli daemon at {base}: {}", why.without_url()),
            start,
        ),
    }
}

async fn bluebubbles_check(
    http: &reqwest::Client,
    name: &str,
    server: &pincer_config::BlueBubbles,
) -> Check {
    let label = format!("bluebubbles {name}");
    let base = server.server_base();
    let Some(password) = &server.password else {
        return check(
            label,
            State::Fail,
            "no password",
            "set channels.bluebubbles.password",
        );
    };
    let Ok(mut url) = reqwest::Url::parse(&format!("{base}/api/v1/server/info")) else {
        return check(
            label,
            State::Fail,
            format!("serverUrl {base:?} is not a URL"),
            "",
        );
    };
    url.query_pairs_mut()
        .append_pair("password", password.expose());
    match http.get(url).send().await {
        Err(why) => check(
            label,
            State::Fail,
            format!(
                "the BlueBubbles server at {base} does not answer: {}",
                why.without_url()
            ),
            "is the Mac awake and BlueBubbles running? Is serverUrl reachable from this host (Tailscale, a tunnel)?",
        ),
        Ok(response) if response.status().as_u16() == 401 => check(
            label,
            State::Fail,
            "the BlueBubbles server refused the password",
            "set BLUEBUBBLES_PASSWORD to the server's password (BlueBubbles > Settings)",
        ),
        Ok(response) if response.status().is_success() => {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let private_api = body["data"]["private_api"].as_bool() == Some(true);
            check(
                label,
                State::Ok,
                format!(
                    "server {} answers{}",
                    body["data"]["server_version"].as_str().unwrap_or("?"),
                    if private_api {
                        ", Private API on"
                    } else {
                        " (Private API off: no typing or inline replies)"
                    }
                ),
                "",
            )
        }
        Ok(response) => check(
            label,
            State::Warn,
            format!("server/info answered HTTP {}", response.status().as_u16()),
            "",
        ),
    }
}

/// The webhook routes tried through the running gateway at `gateway`.
pub(super) async fn webhook_checks(
    config: &pincer_config::Config,
    gateway: &str,
    http: &reqwest::Client,
    out: &mut Vec<Check>,
) {
    let gateway = gateway.trim_end_matches('/');
    if let Some(whatsapp) = config.channels.whatsapp.as_ref().filter(|w| w.enabled) {
        for (name, number) in whatsapp.resolved_accounts() {
            let label = format!("whatsapp {name} webhook");
            let Some(token) = &number.verify_token else {
                out.push(check(
                    label,
                    State::Fail,
                    "no verifyToken",
                    "set channels.whatsapp.verifyToken",
                ));
                continue;
            };
            let challenge = "pincer-doctor-challenge";
            let Ok(mut url) = reqwest::Url::parse(&format!("{gateway}/whatsapp-webhook/{name}"))
            else {
                continue;
            };
            url.query_pairs_mut()
                .append_pair("hub.mode", "subscribe")
                .append_pair("hub.verify_token", token.expose())
                .append_pair("hub.challenge", challenge);
            let answered = match http.get(url).send().await {
                Ok(response) if response.status().is_success() => {
                    response.text().await.unwrap_or_default() == challenge
                }
                _ => false,
            };
            out.push(if answered {
                check(
                    label,
                    State::Ok,
                    format!("the gateway answers Meta's verification at /whatsapp-webhook/{name}"),
                    "",
                )
            } else {
                check(
                    label,
                    State::Fail,
                    format!("the gateway did not answer the verification at /whatsapp-webhook/{name}"),
                    "pass WHATSAPP_VERIFY_TOKEN and WHATSAPP_APP_SECRET to the gateway, then `pincer gateway restart gateway`",
                )
            });
        }
    }
    if let Some(bluebubbles) = config.channels.bluebubbles.as_ref().filter(|b| b.enabled) {
        for (name, server) in bluebubbles.resolved_accounts() {
            let label = format!("bluebubbles {name} webhook");
            let Some(password) = &server.password else {
                continue;
            };
            let status = http
                .post(format!("{gateway}/bluebubbles-webhook/{name}"))
                .header("x-password", password.expose())
                .json(&json!({"type": "pincer-doctor", "data": {}}))
                .send()
                .await
                .map_or(0, |response| response.status().as_u16());
            out.push(if status == 200 {
                check(
                    label,
                    State::Ok,
                    format!("the gateway takes BlueBubbles' webhook at /bluebubbles-webhook/{name}"),
                    "",
                )
            } else {
                check(
                    label,
                    State::Fail,
                    format!("the gateway answered {status} at /bluebubbles-webhook/{name}"),
                    "pass BLUEBUBBLES_PASSWORD to the gateway, then `pincer gateway restart gateway`",
                )
            });
        }
    }
}
