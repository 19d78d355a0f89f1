//! Property tests over the stream parsers: any chunking of a valid stream parses the same as the
//! whole, and arbitrary bytes (broken UTF-8, huge lines, garbage) never panic and always end.

use futures::StreamExt;
use pincer_llm_router::providers::{
    ProviderError, ProviderEvent, anthropic, lines::lines, ollama, openai,
};
use proptest::prelude::*;

type Parsed = Vec<Result<ProviderEvent, ProviderError>>;

const OPENAI: &str = concat!(
    ": OPENROUTER PROCESSING\r\n\r\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Héllo \"}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"wörld 🦀\"}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"read\",\"arguments\":\"{\\\"p\\\":\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"ü\\\"}\"}}]}}]}\n\n",
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
    "data: [DONE]\n\n",
);

const OLLAMA: &str = concat!(
    "{\"message\":{\"role\":\"assistant\",\"content\":\"Héllo \"},\"done\":false}\n",
    "{\"message\":{\"role\":\"assistant\",\"content\":\"wörld 🦀\"},\"done\":false}\n",
    "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"ls\",\"arguments\":{\"path\":\"é\"}}}]},\"done\":false}\n",
    "{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":5,\"eval_count\":6}\n",
);

const ANTHROPIC: &str = concat!(
    "event: message_start\n",
    "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n",
    "event: ping\ndata: {\"type\":\"ping\"}\n\n",
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Héllo 🦀\"}}\n\n",
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"read\",\"input\":{}}}\n\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"p\\\": \"}}\n\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"ü\\\"}\"}}\n\n",
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}\n\n",
    "data: {\"type\":\"message_stop\"}\n\n",
);

#[derive(Clone, Copy, Debug)]
enum Wire {
    OpenAi,
    Ollama,
    Anthropic,
}

fn parse(wire: Wire, chunks: Vec<Vec<u8>>) -> Parsed {
    let chunks = futures::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::from(c))),
    );
    let lines = lines(chunks);
    futures::executor::block_on(async move {
        match wire {
            Wire::OpenAi => openai::events(lines).collect().await,
            Wire::Ollama => ollama::events(lines).collect().await,
            Wire::Anthropic => anthropic::events(lines).collect().await,
        }
    })
}

/// `parsed` with the ids the parser made up for calls that came without one (Ollama's) blanked:
/// each parse makes new ones.
fn with_minted_ids_blanked(wire: Wire, mut parsed: Parsed) -> Parsed {
    if matches!(wire, Wire::Ollama) {
        for event in &mut parsed {
            if let Ok(ProviderEvent::ToolCall(call)) = event {
                call.id.clear();
            }
        }
    }
    parsed
}

fn finished(parsed: &Parsed) -> bool {
    matches!(parsed.last(), Some(Ok(ProviderEvent::Finish { .. })))
}

/// Splits `bytes` at the given (sorted, deduplicated) cut points.
fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for point in points {
        out.push(bytes[start..point].to_vec());
        start = point;
    }
    out.push(bytes[start..].to_vec());
    out
}

fn wires() -> impl Strategy<Value = (Wire, &'static str)> {
    prop_oneof![
        Just((Wire::OpenAi, OPENAI)),
        Just((Wire::Ollama, OLLAMA)),
        Just((Wire::Anthropic, ANTHROPIC)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_chunking_parses_like_the_whole((wire, text) in wires(), cuts in proptest::collection::vec(any::<usize>(), 0..40)) {
        let whole = parse(wire, vec![text.as_bytes().to_vec()]);
        prop_assert!(whole.iter().all(Result::is_ok), "{wire:?}: {whole:?}");
        prop_assert!(finished(&whole));
        let chunked = parse(wire, split(text.as_bytes(), &cuts));
        prop_assert_eq!(with_minted_ids_blanked(wire, chunked), with_minted_ids_blanked(wire, whole));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_end((wire, _) in wires(), noise in proptest::collection::vec(any::<u8>(), 0..2048), cuts in proptest::collection::vec(any::<usize>(), 0..16)) {
        let parsed = parse(wire, split(&noise, &cuts));
        // It ended (no hang), and produced at most one item per line plus the final verdict.
        let lines = noise.iter().filter(|b| **b == b'\n').count();
        prop_assert!(parsed.len() <= lines + 2, "{} items from {} lines", parsed.len(), lines);
    }

    #[test]
    fn a_valid_stream_cut_short_is_always_an_error((wire, text) in wires(), keep in 0usize..10_000) {
        let bytes = text.as_bytes();
        let keep = keep % bytes.len();
        let parsed = parse(wire, vec![bytes[..keep].to_vec()]);
        // Whatever was parsed, a truncated stream never ends in a clean Finish...
        // unless the cut fell after the finishing line (Ollama's done:true line, Anthropic's
        // message_stop, OpenAI's finish chunk when the [DONE] marker is cut).
        if finished(&parsed) {
            let tail = &text[keep.min(text.len())..];
            prop_assert!(tail.len() < 120, "finished with {} bytes missing", tail.len());
        } else {
            prop_assert!(matches!(parsed.last(), Some(Err(_))), "{wire:?} cut at {keep}: {parsed:?}");
        }
    }
}

#[test]
fn a_huge_line_without_newline_is_an_error_not_a_memory_blowup() {
    let huge = vec![b'x'; 5 * 1024 * 1024];
    for wire in [Wire::OpenAi, Wire::Ollama, Wire::Anthropic] {
        let parsed = parse(wire, huge.chunks(64 * 1024).map(<[u8]>::to_vec).collect());
        assert!(matches!(parsed.last(), Some(Err(_))), "{wire:?}");
    }
}

#[test]
fn invalid_utf8_inside_text_is_replaced_not_fatal() {
    let line = b"{\"message\":{\"role\":\"assistant\",\"content\":\"a\xff\xfeb\"},\"done\":false}\n{\"done\":true}\n".to_vec();
    let parsed = parse(Wire::Ollama, vec![line]);
    assert!(
        matches!(&parsed[0], Ok(ProviderEvent::Text(text)) if text.starts_with('a') && text.ends_with('b'))
    );
    assert!(matches!(
        parsed.last(),
        Some(Ok(ProviderEvent::Finish { .. }))
    ));
}
