//! `pincer-bench discord|slack|whatsapp|signal|imessage`: messages per second through one channel
//! with an instant agent; `pincer-bench channels`: the channel-bridge's memory with all six
//! channels connected at once. The fakes run in this process and feed DMs (each from its own
//! user) into `pincer dev`; the clock stops when every answer is final on the fake.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{procs, round, stack};

const TELEGRAM_TOKEN: &str = "424242:bench";
const DISCORD_TOKEN: &str = "discord-bench-token";
const SLACK_APP: &str = "xapp-1-ABENCH-1-bench";
const SLACK_BOT: &str = "xoxb-1-bench-bot";
const WHATSAPP_NUMBER: &str = "106540352242922";
const WHATSAPP_TOKEN: &str = "EAAG-bench-token";
const WHATSAPP_SECRET: &str = "bench-app-secret-0123456789abcdef";
const SIGNAL_NUMBER: &str = "+15550001111";
const BLUEBUBBLES_PASSWORD: &str = "bench-bluebubbles-password";

/// Flags of `pincer-bench discord|slack|channels`.
#[derive(clap::Args)]
pub struct Args {
    /// Messages to send, each from its own user.
    #[arg(long, default_value_t = 500)]
    messages: usize,
    /// Words per fake model reply.
    #[arg(long, default_value_t = 16)]
    tokens: u32,
    /// Seconds allowed for all answers.
    #[arg(long, default_value_t = 180)]
    patience_secs: u64,
}

/// Which channel a run measures.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Discord only.
    Discord,
    /// Slack only.
    Slack,
    /// WhatsApp (Cloud API) only.
    WhatsApp,
    /// Signal only.
    Signal,
    /// iMessage (BlueBubbles) only.
    IMessage,
    /// All six together (memory).
    All,
}

impl Which {
    fn includes(self, one: Which) -> bool {
        self == one || self == Which::All
    }
}

/// The fakes of a run.
struct Fakes {
    telegram: Option<pincer_fake_telegram::RunningTelegram>,
    discord: Option<pincer_fake_discord::RunningDiscord>,
    slack: Option<pincer_fake_slack::RunningSlack>,
    whatsapp: Option<pincer_fake_whatsapp::RunningWhatsApp>,
    signal: Option<pincer_fake_signal::RunningSignal>,
    imessage: Option<pincer_fake_bluebubbles::RunningBlueBubbles>,
}

impl Fakes {
    async fn start(which: Which) -> anyhow::Result<Self> {
        let any = || "127.0.0.1:0".parse::<std::net::SocketAddr>();
        let telegram = match which {
            Which::All => Some(pincer_fake_telegram::RunningTelegram::start(any()?).await?),
            _ => None,
        };
        let discord = match which {
            Which::Discord | Which::All => {
                let discord = pincer_fake_discord::RunningDiscord::start(any()?).await?;
                discord
                    .add_bot(DISCORD_TOKEN)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                // Each DM is its own channel; no bucket is ever full here, but keep it off.
                discord
                    .update_knobs(DISCORD_TOKEN, |knobs| {
                        knobs.bucket_limit = 0;
                        knobs.echo_own_messages = false;
                    })
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                Some(discord)
            }
            _ => None,
        };
        let slack = match which {
            Which::Slack | Which::All => {
                let slack = pincer_fake_slack::RunningSlack::start(any()?).await?;
                slack
                    .add_app(SLACK_APP, SLACK_BOT)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                Some(slack)
            }
            _ => None,
        };
        let whatsapp = if which.includes(Which::WhatsApp) {
            let whatsapp = pincer_fake_whatsapp::RunningWhatsApp::start(any()?).await?;
            whatsapp.add_number(pincer_fake_whatsapp::NumberSpec {
                phone_number_id: WHATSAPP_NUMBER.to_owned(),
                display_phone_number: "+1 555-078-3881".to_owned(),
                verified_name: "Bench".to_owned(),
                access_token: WHATSAPP_TOKEN.to_owned(),
                app_secret: WHATSAPP_SECRET.to_owned(),
                webhook_url: None,
            });
            // Statuses are notifications too: keep the run about messages.
            whatsapp.update_knobs(|knobs| knobs.statuses = false);
            Some(whatsapp)
        } else {
            None
        };
        let signal = if which.includes(Which::Signal) {
            let signal = pincer_fake_signal::RunningSignal::start(any()?).await?;
            signal
                .add_account(SIGNAL_NUMBER)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Some(signal)
        } else {
            None
        };
        let imessage = if which.includes(Which::IMessage) {
            Some(
                pincer_fake_bluebubbles::RunningBlueBubbles::start(any()?, BLUEBUBBLES_PASSWORD)
                    .await?,
            )
        } else {
            None
        };
        Ok(Self {
            telegram,
            discord,
            slack,
            whatsapp,
            signal,
            imessage,
        })
    }

    /// Points the webhook platforms at the gateway.
    fn point_webhooks(&self, gateway: std::net::SocketAddr) {
        if let Some(whatsapp) = &self.whatsapp {
            whatsapp.set_webhook(
                WHATSAPP_NUMBER,
                &format!("http://{gateway}/whatsapp-webhook/default"),
            );
        }
        if let Some(imessage) = &self.imessage {
            imessage.set_webhook(&format!(
                "http://{gateway}/bluebubbles-webhook/default?password={BLUEBUBBLES_PASSWORD}"
            ));
        }
    }

    fn channels_config(&self) -> String {
        let mut blocks = Vec::new();
        let open = r#"dmPolicy: "open", allowFrom: ["*"]"#;
        if let Some(telegram) = &self.telegram {
            blocks.push(format!(
                r#"telegram: {{ botToken: "{TELEGRAM_TOKEN}", apiRoot: "{}", {open} }}"#,
                telegram.api_root()
            ));
        }
        if let Some(discord) = &self.discord {
            blocks.push(format!(
                r#"discord: {{ token: "{DISCORD_TOKEN}", apiBaseUrl: "{}", {open} }}"#,
                discord.api_base_url()
            ));
        }
        if let Some(slack) = &self.slack {
            blocks.push(format!(
                r#"slack: {{ botToken: "{SLACK_BOT}", appToken: "{SLACK_APP}", apiBaseUrl: "{}", {open} }}"#,
                slack.api_base_url()
            ));
        }
        if let Some(whatsapp) = &self.whatsapp {
            blocks.push(format!(
                r#"whatsapp: {{ phoneNumberId: "{WHATSAPP_NUMBER}", accessToken: "{WHATSAPP_TOKEN}", appSecret: "{WHATSAPP_SECRET}", verifyToken: "bench-verify", apiBaseUrl: "{}", {open} }}"#,
                whatsapp.api_base_url()
            ));
        }
        if let Some(signal) = &self.signal {
            blocks.push(format!(
                r#"signal: {{ account: "{SIGNAL_NUMBER}", httpUrl: "{}", {open} }}"#,
                signal.base_url()
            ));
        }
        if let Some(imessage) = &self.imessage {
            blocks.push(format!(
                r#"bluebubbles: {{ serverUrl: "{}", password: "{BLUEBUBBLES_PASSWORD}", {open} }}"#,
                imessage.server_url()
            ));
        }
        blocks.join(", ")
    }

    /// Whether every platform's bot is connected.
    fn connected(&self) -> bool {
        self.discord
            .as_ref()
            .is_none_or(|d| d.open_connections(DISCORD_TOKEN) > 0)
            && self
                .slack
                .as_ref()
                .is_none_or(|s| s.open_sockets(SLACK_APP) > 0)
            && self
                .signal
                .as_ref()
                .is_none_or(|s| s.open_streams(SIGNAL_NUMBER) > 0)
    }

    /// A DM from user `n` on every platform of the run.
    async fn user_says(&self, n: usize) -> anyhow::Result<()> {
        let text = "Reply with a short greeting.";
        if let Some(telegram) = &self.telegram {
            telegram.user_says(
                TELEGRAM_TOKEN,
                &pincer_fake_telegram::Incoming {
                    from_id: 10_000 + n as i64,
                    text: text.to_owned(),
                    ..Default::default()
                },
            );
        }
        if let Some(discord) = &self.discord {
            discord
                .user_says(
                    DISCORD_TOKEN,
                    &pincer_fake_discord::Incoming::dm(&format!("{}", 700_000 + n), text),
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if let Some(slack) = &self.slack {
            slack
                .user_says(
                    SLACK_APP,
                    &pincer_fake_slack::Incoming::dm(&format!("U{n:08}"), text),
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let phone = format!("1555{:07}", 1_000_000 + n);
        if let Some(whatsapp) = &self.whatsapp {
            whatsapp
                .user_says(
                    WHATSAPP_NUMBER,
                    &pincer_fake_whatsapp::Incoming::dm(&phone, text),
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if let Some(signal) = &self.signal {
            let person = pincer_fake_signal::Person::new(&format!("+{phone}"), "Bench");
            signal
                .say(
                    SIGNAL_NUMBER,
                    &pincer_fake_signal::Incoming::dm(&person, text),
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if let Some(imessage) = &self.imessage {
            let (_, status) = imessage
                .user_says(&pincer_fake_bluebubbles::Incoming::dm(
                    &format!("+{phone}"),
                    text,
                ))
                .await;
            if status != 200 {
                anyhow::bail!("the gateway answered BlueBubbles' webhook with {status}");
            }
        }
        Ok(())
    }

    /// Final answers so far, over every platform of the run.
    fn answered(&self) -> usize {
        let telegram = self
            .telegram
            .as_ref()
            .map_or(0, |t| t.sent(TELEGRAM_TOKEN).len());
        let discord = self
            .discord
            .as_ref()
            .map_or(0, |d| d.sent(DISCORD_TOKEN).len());
        let slack = self.slack.as_ref().map_or(0, |s| {
            s.posted(SLACK_APP)
                .iter()
                .filter(|p| !p.text.contains("Working on it") && !p.text.ends_with(" …"))
                .count()
        });
        let whatsapp = self.whatsapp.as_ref().map_or(0, |w| w.sent().len());
        let signal = self
            .signal
            .as_ref()
            .map_or(0, |s| s.sent(SIGNAL_NUMBER).len());
        let imessage = self.imessage.as_ref().map_or(0, |i| i.sent().len());
        telegram + discord + slack + whatsapp + signal + imessage
    }

    /// What the fakes saw, when answers are missing.
    fn explain_missing(&self) {
        if let Some(slack) = &self.slack {
            let posted = slack.posted(SLACK_APP);
            let placeholders = posted
                .iter()
                .filter(|p| p.text.contains("Working on it"))
                .count();
            let previews = posted.iter().filter(|p| p.text.ends_with(" …")).count();
            eprintln!(
                "slack: {} posted ({placeholders} placeholders, {previews} previews), {} envelopes delivered, {} redelivered, {} acks",
                posted.len(),
                slack.delivered(SLACK_APP),
                slack.redelivered(SLACK_APP),
                slack.acks(SLACK_APP).len()
            );
        }
        if let Some(discord) = &self.discord {
            eprintln!(
                "discord: {} sent, {} rejected",
                discord.sent(DISCORD_TOKEN).len(),
                discord.rejected_sends(DISCORD_TOKEN)
            );
        }
    }

    fn platforms(&self) -> usize {
        usize::from(self.telegram.is_some())
            + usize::from(self.discord.is_some())
            + usize::from(self.slack.is_some())
            + usize::from(self.whatsapp.is_some())
            + usize::from(self.signal.is_some())
            + usize::from(self.imessage.is_some())
    }
}

pub async fn run(which: Which, args: Args) -> anyhow::Result<()> {
    let bin_dir = crate::bin_dir()?;
    let fake = stack::Fake::start(&bin_dir, args.tokens).await?;
    let fakes = Fakes::start(which).await?;
    let work = tempfile::tempdir()?;
    let mut dev = stack::Dev::start_with_channels(
        &bin_dir,
        work.path(),
        fake.addr,
        32,
        &fakes.channels_config(),
    )
    .await?;
    dev.wait_ready(Duration::from_secs(30)).await?;
    fakes.point_webhooks(dev.gateway_addr);
    wait(Duration::from_secs(30), || fakes.connected())
        .await
        .map_err(|()| anyhow::anyhow!("the bots did not connect within 30 s"))?;
    // One message first on every platform: every path is warm.
    fakes.user_says(0).await?;
    let per_round = fakes.platforms();
    wait(Duration::from_secs(30), || fakes.answered() >= per_round)
        .await
        .map_err(|()| anyhow::anyhow!("the first messages were not answered within 30 s"))?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bridge_idle_kib = procs::tree_memory_of(dev.pid(), "pincer-channel-");

    let sampler = procs::PeakSampler::start(dev.pid(), Duration::from_millis(50));
    let started = Instant::now();
    for n in 1..=args.messages {
        fakes.user_says(n).await?;
    }
    let expected = per_round * (args.messages + 1);
    let finished = wait(Duration::from_secs(args.patience_secs), || {
        fakes.answered() >= expected
    })
    .await;
    let elapsed = started.elapsed();
    let stack_peak_kib = sampler.stop().await.rss_kb;
    let bridge_after_kib = procs::tree_memory_of(dev.pid(), "pincer-channel-");
    let delivered = fakes.answered().saturating_sub(per_round);
    if finished.is_err() {
        fakes.explain_missing();
    }
    dev.stop().await;

    let report = json!({
        "machine": procs::machine(),
        "channels": match which {
            Which::Discord => "discord",
            Which::Slack => "slack",
            Which::WhatsApp => "whatsapp",
            Which::Signal => "signal",
            Which::IMessage => "imessage",
            Which::All => "telegram+discord+slack+whatsapp+signal+imessage",
        },
        "messages": args.messages * per_round,
        "answers": delivered,
        "complete": finished.is_ok(),
        "seconds": round(elapsed.as_secs_f64()),
        "messages_per_s": round(delivered as f64 / elapsed.as_secs_f64()),
        "channel_bridge_rss_mib": { "idle_connected": round(bridge_idle_kib as f64 / 1024.0), "after_load": round(bridge_after_kib as f64 / 1024.0) },
        "stack_peak_rss_mib": round(stack_peak_kib as f64 / 1024.0),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Polls `done` every 20 ms until it holds or `patience` passes.
async fn wait(patience: Duration, done: impl Fn() -> bool) -> Result<(), ()> {
    let deadline = Instant::now() + patience;
    while !done() {
        if Instant::now() > deadline {
            return Err(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
