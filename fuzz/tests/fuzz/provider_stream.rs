//! Streams from model providers (OpenAI/OpenRouter SSE, Ollama NDJSON, Anthropic SSE), through
//! the line splitter, each wire's parser and the promotion of tool calls written as text.

use std::sync::LazyLock;

use futures::StreamExt;
use pincer_fuzz::Target;
use pincer_llm_router::providers::{
    EventStream, ProviderError, ProviderEvent, anthropic, lines::lines, ollama, openai, text_tools,
};
use proptest::prelude::*;

type Parsed = Vec<Result<ProviderEvent, ProviderError>>;

static TARGET: LazyLock<Target> = LazyLock::new(|| {
    Target::load(
        "provider_stream",
        &[
            "data: ",
            "data: [DONE]\n\n",
            "event: ",
            "\n\n",
            "\"choices\"",
            "\"delta\"",
            "\"tool_calls\"",
            "\"index\"",
            "\"arguments\"",
            "\"done\":true",
            "\"content\"",
            "\"type\":\"content_block_delta\"",
            "\"partial_json\"",
            "\"message_stop\"",
            "\"error\"",
            "\"finish_reason\"",
            "4294967295",
        ],
    )
});

#[derive(Clone, Copy, Debug)]
enum Wire {
    OpenAi,
    Ollama,
    Anthropic,
}

fn wire_of(name: &str) -> Wire {
    if name.contains("openai") {
        Wire::OpenAi
    } else if name.contains("ollama") {
        Wire::Ollama
    } else {
        Wire::Anthropic
    }
}

/// Parses `bytes` as `wire`, in chunks of `chunk` bytes, then promotes text tool calls.
fn parse(wire: Wire, bytes: &[u8], chunk: usize) -> Parsed {
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = bytes
        .chunks(chunk.max(1))
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let lines = lines(futures::stream::iter(chunks));
    let events: EventStream = match wire {
        Wire::OpenAi => Box::pin(openai::events(lines)),
        Wire::Ollama => Box::pin(ollama::events(lines)),
        Wire::Anthropic => Box::pin(anthropic::events(lines)),
    };
    let promoted = text_tools::promote(events, vec!["ls".to_owned(), "read".to_owned()]);
    futures::executor::block_on(promoted.collect())
}

/// `parsed` with the tool-call ids the parser made up (the wire had none: Ollama's, calls
/// printed as text) blanked: each parse makes new ones.
fn with_minted_ids_blanked(mut parsed: Parsed, wire_bytes: &[u8]) -> Parsed {
    let wire = String::from_utf8_lossy(wire_bytes);
    for event in &mut parsed {
        if let Ok(ProviderEvent::ToolCall(call)) = event
            && !wire.contains(call.id.as_str())
        {
            call.id.clear();
        }
    }
    parsed
}

fn ends_well(parsed: &Parsed) -> bool {
    matches!(parsed.last(), Some(Ok(ProviderEvent::Finish { .. })))
}

#[test]
fn the_corpus_is_read_as_real_providers_send_it() {
    for (name, bytes) in TARGET.entries("ok-") {
        let whole = parse(wire_of(name), bytes, bytes.len());
        assert!(
            whole.iter().all(Result::is_ok) && ends_well(&whole),
            "{name}: {whole:?}"
        );
        assert_eq!(
            with_minted_ids_blanked(parse(wire_of(name), bytes, 7), bytes),
            with_minted_ids_blanked(whole, bytes),
            "{name} in 7-byte chunks"
        );
    }
    for (name, bytes) in TARGET.entries("err-") {
        let parsed = parse(wire_of(name), bytes, bytes.len());
        assert!(matches!(parsed.last(), Some(Err(_))), "{name}: {parsed:?}");
    }
    let promoted = parse(
        Wire::Ollama,
        TARGET
            .entries("ok-ollama-text-tool")
            .next()
            .expect("the seed")
            .1,
        64,
    );
    assert!(
        promoted
            .iter()
            .any(|e| matches!(e, Ok(ProviderEvent::ToolCall(_)))),
        "a tool call written as text is promoted: {promoted:?}"
    );
}

proptest! {
    #![proptest_config(TARGET.config())]

    #[test]
    fn mutated_streams_end_and_never_crash(bytes in TARGET.inputs(), chunk in 1usize..512) {
        for wire in [Wire::OpenAi, Wire::Ollama, Wire::Anthropic] {
            let parsed = parse(wire, &bytes, chunk);
            // One verdict at the end: nothing follows an error or a finish.
            let last = parsed.iter().position(|e| e.is_err() || matches!(e, Ok(ProviderEvent::Finish { .. })));
            if let Some(at) = last {
                prop_assert_eq!(at + 1, parsed.len(), "{:?}: events after the end: {:?}", wire, parsed);
            }
        }
    }
}
