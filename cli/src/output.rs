//! Output for people and scripts: aligned tables, colours only on a terminal (and never with
//! `NO_COLOR`), JSON with `--json`.

use std::io::IsTerminal;
use std::process::ExitCode;

use serde_json::Value;

/// Whether stdout gets colours.
pub fn colours() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Paints `text` (ANSI SGR `code`) when colours are on.
pub fn paint(text: &str, code: &str) -> String {
    if colours() {
        format!("\u{1b}[{code}m{text}\u{1b}[0m")
    } else {
        text.to_owned()
    }
}

/// Green, yellow, red.
pub fn good(text: &str) -> String {
    paint(text, "32")
}
/// Yellow.
pub fn warn(text: &str) -> String {
    paint(text, "33")
}
/// Red.
pub fn bad(text: &str) -> String {
    paint(text, "31")
}

/// Prints `value` as pretty JSON.
pub fn json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// Prints rows as columns padded to the widest cell (the last column is not padded).
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (index, cell) in row.iter().enumerate().take(columns) {
            widths[index] = widths[index].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (index, cell) in cells.iter().enumerate() {
            if index + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(widths[index] - cell.chars().count() + 2));
            }
        }
        out.trim_end().to_owned()
    };
    println!("{}", line(headers.to_vec()));
    for row in rows {
        println!("{}", line(row.iter().map(String::as_str).collect()));
    }
}

/// `12 min ago`, from unix ms.
pub fn ago(unix_ms: u64) -> String {
    if unix_ms == 0 {
        return "-".to_owned();
    }
    let secs = pincer_clock::now_ms().saturating_sub(unix_ms) / 1000;
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// Prints a control call's payload (JSON with `json_out`, else through `human`), or returns its
/// failure's exit code.
pub fn print_result(
    result: Result<Value, u8>,
    json_out: bool,
    human: impl FnOnce(&Value),
) -> ExitCode {
    match result {
        Ok(payload) if json_out => {
            json(&payload);
            ExitCode::SUCCESS
        }
        Ok(payload) => {
            human(&payload);
            ExitCode::SUCCESS
        }
        Err(code) => ExitCode::from(code),
    }
}

/// Dollars with four decimals.
pub fn usd(value: &Value) -> String {
    format!("${:.4}", value.as_f64().unwrap_or(0.0))
}
