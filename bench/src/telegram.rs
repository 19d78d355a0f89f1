//! `pincer-bench telegram`: messages per second through the Telegram side with an instant agent.
//! A fake Bot API (in this process) feeds `--messages` DMs from as many users into `pincer dev`
//! (channel-bridge polling, open DM policy); the clock stops when every reply has been sent back.
//! Reports the throughput and the channel-bridge's RSS (idle, peak).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{procs, round, stack};

/// The bot token the bench's fake Bot API accepts.
const BOT_TOKEN: &str = "424242:bench";

/// Flags of `pincer-bench telegram`.
#[derive(clap::Args)]
pub struct Args {
    /// Messages to send, each from its own user (replies to one chat are spaced a second apart).
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Words per fake model reply.
    #[arg(long, default_value_t = 16)]
    tokens: u32,
    /// Seconds allowed for all replies.
    #[arg(long, default_value_t = 180)]
    patience_secs: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let bin_dir = crate::bin_dir()?;
    let fake = stack::Fake::start(&bin_dir, args.tokens).await?;
    let telegram = pincer_fake_telegram::RunningTelegram::start("127.0.0.1:0".parse()?).await?;
    let work = tempfile::tempdir()?;
    let channels = format!(
        r#"telegram: {{ botToken: "{BOT_TOKEN}", apiRoot: "{}", dmPolicy: "open", allowFrom: ["*"] }}"#,
        telegram.api_root()
    );
    let mut dev =
        stack::Dev::start_with_channels(&bin_dir, work.path(), fake.addr, 32, &channels).await?;
    dev.wait_ready(Duration::from_secs(30)).await?;
    // One message first: the bot is polling and every path is warm.
    telegram.user_says(BOT_TOKEN, &user(1));
    wait_for(&telegram, 1, Duration::from_secs(30))
        .await
        .map_err(|_| anyhow::anyhow!("the first message was not answered within 30 s"))?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bridge_idle_kib = bridge_rss(dev.pid());

    let sampler = procs::PeakSampler::start(dev.pid(), Duration::from_millis(50));
    let started = Instant::now();
    for index in 0..args.messages {
        telegram.user_says(BOT_TOKEN, &user(10_000 + index as i64));
    }
    let sent = wait_for(
        &telegram,
        args.messages + 1,
        Duration::from_secs(args.patience_secs),
    )
    .await;
    let elapsed = started.elapsed();
    let stack_peak_kib = sampler.stop().await.rss_kb;
    let bridge_after_kib = bridge_rss(dev.pid());
    let delivered = sent.unwrap_or_else(|count| count).saturating_sub(1);
    dev.stop().await;

    let report = json!({
        "machine": procs::machine(),
        "messages": args.messages,
        "replies_sent": delivered,
        "seconds": round(elapsed.as_secs_f64()),
        "messages_per_s": round(delivered as f64 / elapsed.as_secs_f64()),
        "channel_bridge_rss_mib": { "idle": round(bridge_idle_kib as f64 / 1024.0), "after_load": round(bridge_after_kib as f64 / 1024.0) },
        "stack_peak_rss_mib": round(stack_peak_kib as f64 / 1024.0),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn user(id: i64) -> pincer_fake_telegram::Incoming {
    pincer_fake_telegram::Incoming {
        from_id: id,
        username: Some(format!("user{id}")),
        text: "Reply with a short greeting.".to_owned(),
        ..Default::default()
    }
}

/// Waits until `count` replies were sent; `Err(sent so far)` past `patience`.
async fn wait_for(
    telegram: &pincer_fake_telegram::RunningTelegram,
    count: usize,
    patience: Duration,
) -> Result<usize, usize> {
    let deadline = Instant::now() + patience;
    loop {
        let sent = telegram.sent(BOT_TOKEN).len();
        if sent >= count {
            return Ok(sent);
        }
        if Instant::now() > deadline {
            return Err(sent);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn bridge_rss(root: u32) -> u64 {
    procs::tree_memory_of(root, "pincer-channel-")
}
