//! `pincer-bench memory`: how well and how fast `memory_search` finds things.
//!
//! - Recall@5 on the labelled set in `bench/data/memory` (a workspace of notes and
//!   `questions.json`: each question with the `file:line` of the note that answers it, `lexical`
//!   when they share a distinctive word, `paraphrase` when they share few or none), by full text
//!   alone and by full text plus embeddings with each fusion.
//! - Latency at `--chunks` chunks (10,000): building the index from the files, a sync that finds
//!   nothing changed (every search does one), and a search by words and by words and meaning
//!   (the question's vector given: the router round trip is not counted), p50 and p95.
//!
//! Embeddings are the fake provider's (a hashed bag of synonym groups: a deterministic stand-in,
//! so its recall measures the pipeline, not a model), or a real model's through a running
//! llm-router:
//!
//! ```text
//! cargo run --release -p pincer-bench -- memory
//! cargo run --release -p pincer-bench -- memory --router http://127.0.0.1:50051 \
//!     --model ollama/nomic-embed-text --chunks 2000
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use pincer_memory::{Fusion, Index, Query, QueryVector};
use pincer_proto::llm::v1 as pb;
use pincer_proto::llm::v1::llm_router_client::LlmRouterClient;
use serde_json::{Value, json};

use crate::round;

/// Flags of `pincer-bench memory`.
#[derive(clap::Args)]
pub struct Args {
    /// The labelled set: `workspace/` and `questions.json`.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/memory"))]
    data: PathBuf,
    /// Chunks in the latency corpus.
    #[arg(long, default_value_t = 10_000)]
    chunks: usize,
    /// Vector length of the fake embedding (nomic-embed-text has 768).
    #[arg(long, default_value_t = 768)]
    dims: usize,
    /// Searches timed per mode.
    #[arg(long, default_value_t = 300)]
    searches: usize,
    /// Embed through this llm-router (`http://host:port`) instead of the fake embedding.
    #[arg(long)]
    router: Option<String>,
    /// The embedding model at the router, `provider/model`.
    #[arg(long, default_value = "ollama/nomic-embed-text")]
    model: String,
    /// The router's token.
    #[arg(long, env = "PINCER_LLM_ROUTER_TOKEN")]
    token: Option<String>,
}

/// Where vectors come from.
enum Embedder {
    Fake(usize),
    Router {
        client: Box<LlmRouterClient<tonic::transport::Channel>>,
        model: String,
        token: Option<String>,
    },
}

impl Embedder {
    fn model(&self) -> String {
        match self {
            Embedder::Fake(dims) => format!("fake/bag-of-concepts-{dims}"),
            Embedder::Router { model, .. } => model.clone(),
        }
    }

    async fn embed(&mut self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        let Embedder::Router {
            client,
            model,
            token,
        } = self
        else {
            let Embedder::Fake(dims) = self else {
                unreachable!()
            };
            return Ok(texts
                .iter()
                .map(|text| pincer_fake_provider::embedding::embed(text, *dims))
                .collect());
        };
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(64) {
            let mut request = tonic::Request::new(pb::EmbedRequest {
                model: model.clone(),
                inputs: batch.to_vec(),
                timeout_ms: 300_000,
            });
            if let Some(token) = token {
                request
                    .metadata_mut()
                    .insert("authorization", format!("Bearer {token}").parse()?);
            }
            let answer = client.embed(request).await?.into_inner();
            out.extend(answer.embeddings.into_iter().map(|e| e.values));
        }
        Ok(out)
    }
}

/// Runs the benchmark and prints its JSON.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut embedder = match &args.router {
        None => Embedder::Fake(args.dims),
        Some(url) => Embedder::Router {
            client: Box::new(LlmRouterClient::connect(url.clone()).await?),
            model: args.model.clone(),
            token: args.token.clone(),
        },
    };
    let questions: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(args.data.join("questions.json"))?)?;
    let recall = recall(&args.data.join("workspace"), &questions, &mut embedder).await?;
    let latency = latency(&args, &questions, &mut embedder).await?;
    let report = json!({
        "embedding": embedder.model(),
        "questions": questions.len(),
        "recall_at_5": recall,
        "latency": latency,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// A scratch workspace holding a copy of `from` (the index is written beside the files).
fn scratch_copy(from: &Path) -> anyhow::Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let root = std::fs::canonicalize(dir.path())?;
    std::fs::create_dir_all(root.join("memory"))?;
    std::fs::copy(from.join("MEMORY.md"), root.join("MEMORY.md"))?;
    for entry in std::fs::read_dir(from.join("memory"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), root.join("memory").join(entry.file_name()))?;
    }
    Ok((dir, root))
}

/// Gives every chunk of the index a vector; returns how long the embedding took.
async fn embed_all(index: &mut Index, embedder: &mut Embedder) -> anyhow::Result<f64> {
    let model = embedder.model();
    let started = Instant::now();
    loop {
        let pending = index.missing_vectors(&model, 512)?;
        if pending.is_empty() {
            return Ok(started.elapsed().as_secs_f64() * 1000.0);
        }
        let texts: Vec<String> = pending.iter().map(|p| p.text.clone()).collect();
        let vectors = embedder.embed(&texts).await?;
        let pairs: Vec<(String, Vec<f32>)> =
            pending.into_iter().map(|p| p.hash).zip(vectors).collect();
        index.store_vectors(&model, &pairs)?;
    }
}

async fn recall(
    workspace: &Path,
    questions: &[Value],
    embedder: &mut Embedder,
) -> anyhow::Result<Value> {
    let (_dir, root) = scratch_copy(workspace)?;
    let mut index = Index::open(&root)?;
    index.sync(&root)?;
    embed_all(&mut index, embedder).await?;
    let model = embedder.model();
    let modes: [(&str, Option<Fusion>); 3] = [
        ("full_text", None),
        ("hybrid_weighted", Some(Fusion::default())),
        ("hybrid_rrf", Some(Fusion::RECIPROCAL)),
    ];
    let mut report = serde_json::Map::new();
    for (name, fusion) in modes {
        let mut found = std::collections::BTreeMap::<String, (usize, usize)>::new();
        let mut missed = Vec::new();
        for question in questions {
            let text = question["question"].as_str().unwrap_or_default();
            let kind = question["kind"].as_str().unwrap_or("other").to_owned();
            let (file, line) = expected(question)?;
            let vector = match fusion {
                Some(_) => embedder.embed(&[text.to_owned()]).await?.pop(),
                None => None,
            };
            let hits = index.search(&Query {
                text,
                vector: vector.as_deref().map(|values| QueryVector {
                    model: &model,
                    values,
                }),
                limit: 5,
                fusion: fusion.unwrap_or_default(),
            })?;
            let hit = hits
                .iter()
                .any(|h| h.path == file && h.line <= line && line <= h.end_line);
            for key in [kind.as_str(), "all"] {
                let entry = found.entry(key.to_owned()).or_default();
                entry.1 += 1;
                entry.0 += usize::from(hit);
            }
            if !hit {
                missed.push(text.to_owned());
            }
        }
        let mut mode = serde_json::Map::new();
        for (kind, (hits, total)) in found {
            mode.insert(kind, json!(round(hits as f64 / total.max(1) as f64)));
        }
        mode.insert("missed".into(), json!(missed));
        report.insert(name.to_owned(), Value::Object(mode));
    }
    Ok(Value::Object(report))
}

fn expected(question: &Value) -> anyhow::Result<(String, u32)> {
    let at = question["expect"].as_str().unwrap_or_default();
    let (file, line) = at
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("expect {at:?} is not file:line"))?;
    Ok((file.to_owned(), line.parse()?))
}

/// A corpus of `chunks` paragraphs in daily files: words drawn with a skewed frequency from a
/// vocabulary of the labelled notes' words and made-up ones, like real notes where a few words
/// are everywhere and most are rare.
fn write_corpus(root: &Path, data: &Path, chunks: usize) -> anyhow::Result<()> {
    let mut vocabulary: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(data.join("memory"))?.chain(std::fs::read_dir(data)?) {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "md") {
            let text = std::fs::read_to_string(&path)?;
            vocabulary.extend(text.split_whitespace().map(str::to_owned));
        }
    }
    vocabulary.extend((0..5000).map(|i| format!("term{i}")));
    let mut rng = fastrand::Rng::with_seed(19);
    let per_file = 100;
    for file in 0..chunks.div_ceil(per_file) {
        let mut text = String::new();
        for _ in 0..per_file.min(chunks - file * per_file) {
            let words = 20 + rng.usize(..60);
            let paragraph: Vec<&str> = (0..words)
                .map(|_| {
                    let skewed = rng.f64() * rng.f64();
                    vocabulary[(skewed * vocabulary.len() as f64) as usize].as_str()
                })
                .collect();
            text.push_str(&paragraph.join(" "));
            text.push_str("\n\n");
        }
        std::fs::write(root.join(format!("memory/gen-{file:04}.md")), text)?;
    }
    Ok(())
}

/// p50, p95 and max of `samples` in ms.
fn summary(mut samples: Vec<f64>) -> Value {
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
        round(samples.get(index).copied().unwrap_or_default())
    };
    json!({ "p50_ms": at(0.5), "p95_ms": at(0.95), "max_ms": at(1.0), "n": samples.len() })
}

async fn latency(
    args: &Args,
    questions: &[Value],
    embedder: &mut Embedder,
) -> anyhow::Result<Value> {
    let (_dir, root) = scratch_copy(&args.data.join("workspace"))?;
    write_corpus(&root, &args.data.join("workspace"), args.chunks)?;
    let mut index = Index::open(&root)?;
    let started = Instant::now();
    let built = index.sync(&root)?;
    let build_ms = started.elapsed().as_secs_f64() * 1000.0;
    let embed_ms = embed_all(&mut index, embedder).await?;
    let model = embedder.model();
    let counts = index.counts(&model)?;

    let mut unchanged = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        anyhow::ensure!(!index.sync(&root)?.changed(), "nothing changed");
        unchanged.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let texts: Vec<String> = questions
        .iter()
        .map(|q| q["question"].as_str().unwrap_or_default().to_owned())
        .collect();
    let vectors = embedder.embed(&texts).await?;
    let mut full_text = Vec::new();
    let mut hybrid = Vec::new();
    for round_index in 0..args.searches {
        let which = round_index % texts.len();
        for (samples, vector) in [(&mut full_text, None), (&mut hybrid, Some(&vectors[which]))] {
            let started = Instant::now();
            let hits = index.search(&Query {
                text: &texts[which],
                vector: vector.map(|values| QueryVector {
                    model: &model,
                    values,
                }),
                limit: 5,
                fusion: Fusion::default(),
            })?;
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(hits);
        }
    }
    let db_bytes = std::fs::metadata(root.join(".pincer/memory.sqlite")).map_or(0, |m| m.len())
        + std::fs::metadata(root.join(".pincer/memory.sqlite-wal")).map_or(0, |m| m.len());
    Ok(json!({
        "chunks": counts.chunks,
        "embedded": counts.embedded,
        "dims": vectors.first().map_or(0, Vec::len),
        "files": built.files_changed,
        "index_build_ms": round(build_ms),
        "embed_all_ms": round(embed_ms),
        "db_mib": round(db_bytes as f64 / (1024.0 * 1024.0)),
        "sync_unchanged": summary(unchanged),
        "search_full_text": summary(full_text),
        "search_hybrid": summary(hybrid),
    }))
}
