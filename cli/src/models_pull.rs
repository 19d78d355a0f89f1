//! `pincer models pull ollama/<model>`: asks the Ollama host behind a provider of the config to
//! download a model (`POST /api/pull`, streamed), with a bar per layer on a terminal and a line
//! per quarter otherwise. The router finds the model by itself once it is there.

use std::time::Duration;

use serde_json::{Value, json};

use crate::progress::Progress;
use crate::sources::Sources;
use crate::target::exit;

/// Longest silence in the stream: Ollama sends progress every few hundred ms while it downloads,
/// but verifying a large layer can take a while.
const IDLE: Duration = Duration::from_secs(300);

/// Pulls `reference` (`<provider>/<model>`); `url` overrides the provider's `baseUrl`.
pub async fn pull(
    sources: &Sources,
    reference: &str,
    url: Option<&str>,
    json_out: bool,
) -> Result<Value, u8> {
    let (provider, model) = pincer_config::parse_model_ref(reference).ok_or_else(|| {
        eprintln!("pincer: {reference:?} is not provider/model (e.g. ollama/llama3.2:3b)");
        exit::USAGE
    })?;
    let base = match url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => base_url(sources, provider)?,
    };
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(IDLE)
        .build()
        .map_err(|error| {
            eprintln!("pincer: {error}");
            exit::IO
        })?;
    let progress = (!json_out).then(|| Progress::start(&format!("pulling {model} at {base}")));
    let outcome = stream(&http, &base, model, progress.as_ref()).await;
    if let Some(progress) = progress {
        progress.finish();
    }
    match outcome {
        Ok(()) => Ok(json!({ "model": reference, "status": "success", "url": base })),
        Err(message) => {
            eprintln!("pincer: {message}");
            Err(exit::UNAVAILABLE)
        }
    }
}

/// The Ollama base URL of `provider` from the config (its `baseUrl`, Ollama's default when it has
/// none); refused for a provider that does not speak Ollama's API.
fn base_url(sources: &Sources, provider: &str) -> Result<String, u8> {
    let config = sources
        .load(pincer_config::Scope::Sections(&["models"]))
        .map_err(|error| {
            eprintln!("pincer: {error}");
            exit::CONFIG
        })?
        .unwrap_or_default();
    let declared = config.models.provider(provider);
    let api = declared.map_or_else(
        || pincer_config::Provider::default().api_for(provider),
        |p| p.api_for(provider),
    );
    if api != pincer_config::Api::Ollama {
        eprintln!(
            "pincer: {provider} is not an Ollama provider: hosted APIs have their models already (pincer models list)"
        );
        return Err(exit::USAGE);
    }
    Ok(declared
        .and_then(|p| p.base_url.clone())
        .unwrap_or_else(|| "http://127.0.0.1:11434".to_owned())
        .trim_end_matches('/')
        .to_owned())
}

async fn stream(
    http: &reqwest::Client,
    base: &str,
    model: &str,
    progress: Option<&Progress>,
) -> Result<(), String> {
    let url = format!("{base}/api/pull");
    let response = http
        .post(&url)
        .json(&json!({ "model": model, "stream": true }))
        .send()
        .await
        .map_err(|error| {
            format!(
                "cannot reach {base} ({error}); from this machine, a compose-only name (http://ollama:11434) does not resolve: pass --url, or run `docker compose exec ollama ollama pull {model}`"
            )
        })?;
    let status = response.status();
    let mut response = response;
    let mut pending = String::new();
    let mut last_status = String::new();
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|error| format!("the pull stream broke: {error}"))?;
        let Some(chunk) = chunk else { break };
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            if handle(line.trim(), progress, &mut last_status)? {
                return Ok(());
            }
        }
    }
    if handle(pending.trim(), progress, &mut last_status)? {
        return Ok(());
    }
    if !status.is_success() {
        return Err(format!("{url} answered {status}"));
    }
    Err(format!(
        "the pull stream ended before `success` (last status: {last_status})"
    ))
}

/// One NDJSON line: `true` on `success`, an error line as `Err`, else progress shown.
fn handle(
    line: &str,
    progress: Option<&Progress>,
    last_status: &mut String,
) -> Result<bool, String> {
    if line.is_empty() {
        return Ok(false);
    }
    let event: Value = serde_json::from_str(line)
        .map_err(|error| format!("unreadable pull line {line:?}: {error}"))?;
    if let Some(error) = event["error"].as_str() {
        return Err(format!("Ollama refused the pull: {error}"));
    }
    let status = event["status"].as_str().unwrap_or_default();
    if status == "success" {
        return Ok(true);
    }
    if let Some(progress) = progress {
        match (event["total"].as_u64(), event["completed"].as_u64()) {
            (Some(total), Some(done)) => progress.bytes(status, done, total),
            (Some(total), None) => progress.bytes(status, 0, total),
            _ if status != last_status => progress.step(status),
            _ => {}
        }
    }
    status.clone_into(last_status);
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_in_success_or_an_error() {
        let mut last = String::new();
        assert_eq!(
            handle(r#"{"status":"pulling manifest"}"#, None, &mut last),
            Ok(false)
        );
        assert_eq!(last, "pulling manifest");
        assert_eq!(handle(r#"{"status":"success"}"#, None, &mut last), Ok(true));
        let refused = handle(
            r#"{"error":"pull model manifest: file does not exist"}"#,
            None,
            &mut last,
        )
        .expect_err("an error line");
        assert!(refused.contains("file does not exist"), "{refused}");
        assert!(handle("not json", None, &mut last).is_err());
    }
}
