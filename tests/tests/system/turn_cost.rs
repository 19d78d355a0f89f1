//! What a turn costs on the bus, counted message by message: the round trips cut to reach the
//! footprint targets (BENCHMARKS.md: 7.5 publishes per turn under load) stay cut as the services
//! grow. A count, not a timing: the same turns send the same messages on any machine.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use pincer_fake_provider::Knobs;
use pincer_system_tests::Stack;
use serde_json::{Value, json};
use tokio::time::Instant;

/// Messages the bus carries for one turn of a stored session through the HTTP API: every publish
/// a client makes and every message the server sends a client (replies, the pulled turn), as a
/// subscriber to every subject sees them. Today 15: the gateway's publish of the turn and its
/// acknowledgement, the turn's delivery to the agent-runner and its ack, the session's lease
/// taken and given back (two writes, two replies), the transcript read (request, reply) and
/// written (write, reply), the usage write and its reply, and the answer event. Lower it when a
/// change saves a message; raise it only with the reason in the change.
const MESSAGES_PER_TURN: usize = 15;

const TURNS: usize = 10;
const WARM_UP_TURNS: usize = 3;

/// Messages that come with time, not with turns: the agent-runner's pull requests (one per
/// expiry of a pull, or per batch) and the server's status replies to them, progress acks of a
/// turn that runs longer than a third of the ack wait, and lease refreshes (every third of the
/// lease's time to live), with their replies. On a loaded machine a turn can take long enough
/// for any of them.
#[derive(Default)]
struct Timers {
    /// Reply subjects of the refreshes left out: their replies are left out too.
    replies: HashSet<String>,
    /// Lease keys held (written with a holder, not given back yet).
    held: HashSet<String>,
}

impl Timers {
    fn is_timer(&mut self, message: &async_nats::Message) -> bool {
        let subject = message.subject.as_str();
        if message.status.is_some()
            || subject.starts_with("$JS.API.CONSUMER.MSG.NEXT.")
            || (subject.starts_with("$JS.ACK.") && message.payload.as_ref() == b"+WPI")
        {
            return true;
        }
        if self.replies.remove(subject) {
            return true;
        }
        if subject.contains("_leases.") && subject.starts_with("$KV.") {
            let holder = serde_json::from_slice::<Value>(&message.payload)
                .ok()
                .and_then(|value| value["holder"].as_str().map(str::to_owned))
                .unwrap_or_default();
            if holder.is_empty() {
                self.held.remove(subject);
            } else if !self.held.insert(subject.to_owned()) {
                // Held already: a refresh.
                if let Some(reply) = &message.reply {
                    self.replies.insert(reply.to_string());
                }
                return true;
            }
        }
        false
    }
}

/// A turn's last message: the agent-runner acknowledges the turn once it has written, answered
/// and given the lease back.
fn is_final_ack(message: &async_nats::Message) -> bool {
    message.subject.starts_with("$JS.ACK.")
        && message.status.is_none()
        && message.payload.as_ref() != b"+WPI"
}

/// What the subscriber saw, by kind of subject (JetStream API requests by their API name, KV
/// writes by bucket, replies by the inbox prefix of their client), for the failure message.
fn kind(subject: &str) -> String {
    let tokens: Vec<&str> = subject.split('.').collect();
    match tokens.as_slice() {
        [inbox, ..] if inbox.starts_with("_INBOX") => format!("replies to {inbox}"),
        ["$KV", bucket, ..] => format!("$KV.{bucket} writes"),
        ["$JS", "ACK", stream, ..] => format!("$JS.ACK.{stream}"),
        ["$JS", "API", api, ..] => format!("$JS.API.{api}"),
        [first, second, ..] => format!("{first}.{second}"),
        _ => subject.to_owned(),
    }
}

/// Reads `subscriber` until `acks` final acks have passed, counting what is not a timer's.
async fn count_until_acked(
    subscriber: &mut async_nats::Subscriber,
    acks: usize,
    timers: &mut Timers,
) -> BTreeMap<String, usize> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut counted = BTreeMap::new();
    let mut acked = 0;
    while acked < acks {
        let message = match tokio::time::timeout_at(deadline, subscriber.next()).await {
            Ok(Some(message)) => message,
            Ok(None) => panic!("the subscription ended after {acked} of {acks} acks"),
            Err(_) => panic!("{acked} of {acks} turns acknowledged after 30 s; saw {counted:?}"),
        };
        if timers.is_timer(&message) {
            continue;
        }
        if is_final_ack(&message) {
            acked += 1;
        }
        *counted.entry(kind(message.subject.as_str())).or_default() += 1;
    }
    counted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_costs_the_bus_no_more_messages_than_its_budget() {
    let stack = Stack::start(Knobs::default()).await;
    stack.wait_ready().await;
    let admin = stack.nats_admin().await;
    let mut everything = admin.subscribe(">").await.expect("subscribes to >");
    admin.flush().await.expect("the subscription is in place");
    let mut timers = Timers::default();
    let turn = json!({
        "model": "pincer/default",
        "user": "bus-budget",
        "messages": [{ "role": "user", "content": "hi" }],
    });
    let ask = || async {
        let response = stack.chat(&turn).send().await.expect("the gateway answers");
        assert_eq!(
            response.status(),
            200,
            "{}",
            response.text().await.unwrap_or_default()
        );
    };

    // The session's first turns create what later ones only update, and each turn's last
    // messages (the lease given back, the ack) follow its answer: counting starts once the
    // warm-up turns are acknowledged, so none of theirs is counted.
    for _ in 0..WARM_UP_TURNS {
        ask().await;
    }
    count_until_acked(&mut everything, WARM_UP_TURNS, &mut timers).await;

    for _ in 0..TURNS {
        ask().await;
    }
    let counted = count_until_acked(&mut everything, TURNS, &mut timers).await;
    let total: usize = counted.values().sum();
    assert!(
        total <= MESSAGES_PER_TURN * TURNS,
        "{TURNS} turns sent {total} bus messages, more than {MESSAGES_PER_TURN} each: {counted:#?}"
    );
}
