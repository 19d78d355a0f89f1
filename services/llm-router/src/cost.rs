//! Cost of a call from the served model's configured prices (`cost`, USD per million tokens, as in
//! OpenClaw): uncached prompt tokens at `input`, cache reads at `cacheRead`, cache writes at
//! `cacheWrite` (each defaulting to `input`), completion tokens at `output`.

use pincer_config::Cost;

use crate::providers::Usage;

/// USD for `usage` at `prices`; `None` without prices or without any reported count.
pub fn usd(prices: Option<&Cost>, usage: &Usage) -> Option<f64> {
    let prices = prices?;
    if usage.prompt_tokens.is_none() && usage.completion_tokens.is_none() {
        return None;
    }
    let prompt = f64::from(usage.prompt_tokens.unwrap_or(0));
    let cached = f64::from(usage.cached_tokens.unwrap_or(0));
    let written = f64::from(usage.cache_write_tokens.unwrap_or(0));
    let fresh = (prompt - cached - written).max(0.0);
    let output = f64::from(usage.completion_tokens.unwrap_or(0));
    let per_token = |per_million: f64| per_million / 1_000_000.0;
    Some(
        fresh * per_token(prices.input)
            + cached * per_token(prices.cache_read.unwrap_or(prices.input))
            + written * per_token(prices.cache_write.unwrap_or(prices.input))
            + output * per_token(prices.output),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_each_kind_of_token() {
        let prices = Cost {
            input: 3.0,
            output: 15.0,
            cache_read: Some(0.3),
            cache_write: Some(3.75),
        };
        let usage = Usage {
            prompt_tokens: Some(1_100_000),
            completion_tokens: Some(100_000),
            cached_tokens: Some(1_000_000),
            cache_write_tokens: Some(0),
        };
        let cost = usd(Some(&prices), &usage).expect("priced");
        assert!((cost - (0.3 + 0.3 + 1.5)).abs() < 1e-9, "{cost}");
        assert_eq!(usd(None, &usage), None);
        assert_eq!(usd(Some(&prices), &Usage::default()), None);
        let free = Cost::default();
        assert_eq!(usd(Some(&free), &usage), Some(0.0));
    }
}
