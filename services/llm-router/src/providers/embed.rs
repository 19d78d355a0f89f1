//! Embeddings on the provider's own endpoint: Ollama `POST /api/embed` (`{model, input}` →
//! `{embeddings}`), OpenAI-compatible `POST <base>/embeddings` (OpenAI, OpenRouter, vLLM, LM
//! Studio: `{model, input}` → `{data: [{embedding, index}]}`). Same client, timeouts, key and
//! extra headers as a chat; failures are classified the same way.

use pincer_config::Api;
use serde_json::{Value, json};

use super::{Deployment, ErrorKind, ProviderError};

/// Embeds `inputs` with `deployment`'s model: one vector per input, in order, all of one length.
pub async fn embed(
    deployment: &Deployment,
    inputs: &[String],
) -> Result<Vec<Vec<f32>>, ProviderError> {
    let (path, body) = match deployment.api {
        Api::Ollama => (
            "/api/embed",
            json!({ "model": deployment.model, "input": inputs }),
        ),
        Api::OpenaiCompletions => (
            "/embeddings",
            json!({ "model": deployment.model, "input": inputs }),
        ),
        other => {
            return Err(ProviderError::new(
                ErrorKind::Unsupported,
                format!(
                    "provider api {:?} has no embeddings endpoint",
                    other.as_str()
                ),
            ));
        }
    };
    let url = format!("{}{path}", deployment.base_url);
    let mut builder = deployment
        .http
        .post(&url)
        .headers(super::common_headers(deployment))
        .json(&body);
    if let Some(key) = &deployment.api_key {
        builder = builder.bearer_auth(key.expose());
    }
    if deployment.builtin == Some(pincer_config::BuiltinProvider::OpenRouter) {
        builder = builder
            .header("HTTP-Referer", "https://github.com/pincer-agent/pincer")
            .header("X-Title", "Pincer");
    }
    let response = super::send(builder, deployment).await?;
    let answer = super::whole::read(response, deployment.first_token_timeout).await?;
    let vectors = match deployment.api {
        Api::Ollama => ollama_vectors(&answer)?,
        _ => openai_vectors(&answer)?,
    };
    check(vectors, inputs.len())
}

/// `{"embeddings": [[...], ...]}`; an `{"error": ...}` body is classified like a stream error.
fn ollama_vectors(answer: &Value) -> Result<Vec<Vec<f32>>, ProviderError> {
    if let Some(error) = answer.get("error") {
        return Err(ProviderError::in_stream(error));
    }
    let list = answer
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("no `embeddings` array"))?;
    list.iter().map(numbers).collect()
}

/// `{"data": [{"embedding": [...], "index": n}, ...]}`, placed by `index`.
fn openai_vectors(answer: &Value) -> Result<Vec<Vec<f32>>, ProviderError> {
    if let Some(error) = answer.get("error") {
        return Err(ProviderError::in_stream(error));
    }
    let data = answer
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("no `data` array"))?;
    let mut placed: Vec<Option<Vec<f32>>> = vec![None; data.len()];
    for (position, item) in data.iter().enumerate() {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or(position);
        let slot = placed
            .get_mut(index)
            .ok_or_else(|| malformed("an `index` beyond the inputs"))?;
        *slot = Some(numbers(item.get("embedding").unwrap_or(&Value::Null))?);
    }
    placed
        .into_iter()
        .map(|vector| vector.ok_or_else(|| malformed("an input without its embedding")))
        .collect()
}

fn numbers(value: &Value) -> Result<Vec<f32>, ProviderError> {
    let list = value
        .as_array()
        .ok_or_else(|| malformed("an embedding is not an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for number in list {
        let number = number
            .as_f64()
            .ok_or_else(|| malformed("an embedding holds a non-number"))?;
        out.push(number as f32);
    }
    Ok(out)
}

/// One vector per input, all of one non-zero length, finite.
fn check(vectors: Vec<Vec<f32>>, inputs: usize) -> Result<Vec<Vec<f32>>, ProviderError> {
    if vectors.len() != inputs {
        return Err(malformed(&format!(
            "{} embeddings for {inputs} inputs",
            vectors.len()
        )));
    }
    let dims = vectors.first().map_or(0, Vec::len);
    if vectors
        .iter()
        .any(|v| v.len() != dims || v.is_empty() || v.iter().any(|x| !x.is_finite()))
    {
        return Err(malformed(
            "embeddings of different or zero lengths, or not finite",
        ));
    }
    Ok(vectors)
}

fn malformed(what: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::StreamBroken,
        format!("malformed embeddings response: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_are_read_and_placed_by_index() {
        let ollama = json!({"embeddings": [[1.0, 0.0], [0.0, 1.0]]});
        assert_eq!(
            ollama_vectors(&ollama).expect("ok"),
            vec![vec![1.0, 0.0], vec![0.0, 1.0]]
        );
        let openai = json!({"data": [
            {"index": 1, "embedding": [0.0, 1.0]},
            {"index": 0, "embedding": [1.0, 0.0]}
        ]});
        let vectors = openai_vectors(&openai).expect("ok");
        assert_eq!(vectors[0], vec![1.0, 0.0]);
        assert!(check(vectors, 2).is_ok());
    }

    #[test]
    fn wrong_counts_lengths_and_errors_are_refused() {
        assert!(check(vec![vec![1.0]], 2).is_err());
        assert!(check(vec![vec![1.0], vec![1.0, 2.0]], 2).is_err());
        assert!(openai_vectors(&json!({"data": [{"index": 5, "embedding": [1.0]}]})).is_err());
        assert!(ollama_vectors(&json!({"embeddings": [["x"]]})).is_err());
        let error = openai_vectors(&json!({"error": {"message": "slow down", "code": 429}}))
            .expect_err("error");
        assert_eq!(error.kind, ErrorKind::RateLimited);
    }
}
