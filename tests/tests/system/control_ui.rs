//! The Control UI in a real headless browser (Debian chromium through chromedriver): sign in,
//! approve a pairing request, send a chat and watch it stream, read usage and config. Screenshots
//! of each step are kept in `target/ui-screenshots/` as test artefacts.

use std::path::PathBuf;

use pincer_fake_provider::Knobs;
use pincer_system_tests::{Stack, TOKEN};
use pincer_test_support::eventually;
use pincer_test_support::webdriver::{AttributeIs, Browser, Present, TextContains};

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_approve_a_pairing_and_chat_with_streaming() {
    let stack = Stack::start(Knobs {
        tokens: 60,
        chunk_delay_ms: 40,
        ..Knobs::default()
    })
    .await;
    // A sender waiting for approval, as the channel-bridge would have recorded it.
    let nats = stack.nats_admin().await;
    let bucket = pincer_bus::setup::pairing_bucket(
        &async_nats::jetstream::new(nats),
        &pincer_bus::Namespace::default(),
    )
    .await
    .expect("pairing bucket");
    let pairing = pincer_store::pairing::Pairing::new(bucket, "telegram", "default");
    let (pending, _) = pairing.request("4242", Some("ana")).await.expect("request");

    let browser = Browser::start().await;
    let shots = screenshots();
    browser.goto(&format!("{}/", stack.gateway_url)).await;

    // A wrong token is refused and says so.
    let token = browser.wait_for("#token", "sign-in form", Present).await;
    browser.type_text(&token, "wrong-token").await;
    browser
        .click(&browser.find("#signin").await.expect("button"))
        .await;
    browser
        .wait_for("#signin-error", "the refusal", TextContains("unauthorized"))
        .await;
    browser.screenshot(&shots, "01-signin-refused").await;

    browser.type_text(&token, TOKEN).await;
    browser
        .click(&browser.find("#signin").await.expect("button"))
        .await;
    browser
        .wait_for("#conn-status", "signed in", TextContains("connected"))
        .await;
    browser
        .wait_for("#health", "health shown", TextContains("nats"))
        .await;
    browser
        .wait_for(
            "#models-status",
            "breakers per provider and model",
            TextContains("ollama/fake-model"),
        )
        .await;
    browser.screenshot(&shots, "02-overview").await;

    // Approve the pending sender.
    browser
        .click(&browser.find("[data-tab=pairing]").await.expect("tab"))
        .await;
    let row = format!(".pairing-row[data-code=\"{}\"]", pending.code);
    browser
        .wait_for(&row, "the pending request", TextContains("4242"))
        .await;
    browser.screenshot(&shots, "03-pairing-pending").await;
    // The list is read again every 5 s (and on each visit of its tab): unchanged, its rows stay
    // and only their times are drawn again, so a click under way on one is not lost.
    let marks = format!(
        "const r = document.querySelector('{row}'); \
         return r ? [r.dataset.seen || '', r.cells[5].dataset.seen || ''] : ['gone', ''];"
    );
    browser
        .script(&format!(
            "const r = document.querySelector('{row}'); r.dataset.seen = 'y'; r.cells[5].dataset.seen = 'y';"
        ))
        .await;
    browser
        .click(&browser.find("[data-tab=pairing]").await.expect("tab"))
        .await;
    // The age cell drawn again: the list was read again.
    let row_mark = eventually(
        "the list read again",
        std::time::Duration::from_secs(20),
        || async {
            let seen = browser.script(&marks).await;
            (seen[1] == "").then(|| seen[0].clone())
        },
    )
    .await;
    assert_eq!(row_mark, "y", "the row was drawn again");
    // Should it be drawn again all the same (a new request came), the button is found again.
    browser
        .click_on(&format!("{row} button.approve"), "approve")
        .await;
    browser
        .wait_for(
            "#pairing-empty",
            "no requests left",
            TextContains("No pending"),
        )
        .await;
    assert!(pairing.is_approved("4242").await.expect("lookup"));
    browser.screenshot(&shots, "04-pairing-approved").await;

    // Chat: the answer streams in, then is final.
    browser
        .click(&browser.find("[data-tab=chat]").await.expect("tab"))
        .await;
    let input = browser.wait_for("#chat-input", "chat box", Present).await;
    browser.type_text(&input, "hello from the browser").await;
    browser
        .click(&browser.find("#chat-send").await.expect("send"))
        .await;
    let reply = browser
        .wait_for(
            "#chat-log .msg.assistant",
            "a streaming answer",
            AttributeIs("data-state", "streaming"),
        )
        .await;
    // Some text has arrived before the end: it streams.
    let patience = std::time::Duration::from_secs(20);
    eventually("streamed text", patience, || async {
        let state = browser.attribute(&reply, "data-state").await;
        let text = browser.text(&reply).await;
        assert_eq!(
            state.as_deref(),
            Some("streaming"),
            "ended before any text was shown streaming"
        );
        (!text.trim().is_empty()).then_some(())
    })
    .await;
    browser.screenshot(&shots, "05-chat-streaming").await;
    let reply = browser
        .wait_for(
            "#chat-log .msg.assistant",
            "the final answer",
            AttributeIs("data-state", "final"),
        )
        .await;
    assert!(!browser.text(&reply).await.trim().is_empty());
    browser.screenshot(&shots, "06-chat-final").await;

    // Usage shows the turn's model; the config hides the token.
    browser
        .click(&browser.find("[data-tab=usage]").await.expect("tab"))
        .await;
    browser
        .wait_for(
            "#usage-table",
            "usage per model",
            TextContains("ollama/fake-model"),
        )
        .await;
    browser.screenshot(&shots, "07-usage").await;
    browser
        .click(&browser.find("[data-tab=sessions]").await.expect("tab"))
        .await;
    browser
        .wait_for(
            "#sessions-list",
            "the chat's session",
            TextContains("control"),
        )
        .await;
    browser.screenshot(&shots, "08-sessions").await;
    browser
        .click(&browser.find("[data-tab=config]").await.expect("tab"))
        .await;
    let config = browser
        .wait_for("#config-view", "the config", TextContains("gateway"))
        .await;
    assert!(
        !browser.text(&config).await.contains(TOKEN),
        "the token is masked"
    );
    browser.screenshot(&shots, "09-config").await;
}
