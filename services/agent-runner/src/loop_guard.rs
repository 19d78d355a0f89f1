//! Loop detection within one run: a small model that repeats a failing tool call wastes the whole
//! run (each repeat is a model call: seconds to minutes on a CPU). A call identical to an earlier
//! one (same tool, same arguments) that failed is not run again while nothing else has succeeded
//! since: the model is told instead that it is repeating itself, with the error. The next repeat
//! ends the run with a message that names the tool and its error. A call that fails the same way
//! after something else did succeed (it may work now) runs, and counts as a repeat when it fails
//! the same way again. Calls that succeed are never held back, repeated or not.

use std::collections::HashMap;

/// How many repeats of a failing call end the run (the first is answered with a warning).
const STOP_AT_REPEAT: u32 = 2;

/// What to do with a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Run it.
    Run,
    /// Do not run it; this is its result for the model.
    Repeated(String),
    /// End the run with this message to the user.
    Stop(String),
}

/// A call that failed.
#[derive(Debug)]
struct Failure {
    error: String,
    /// The successes counted when it last failed.
    at_progress: u64,
    /// Repeats so far (the first failure is not one).
    repeats: u32,
}

/// One run's memory of failed calls.
#[derive(Debug, Default)]
pub struct LoopGuard {
    failures: HashMap<(String, String), Failure>,
    /// Successful calls so far.
    progress: u64,
}

impl LoopGuard {
    /// Whether to run `tool` with `arguments` now.
    pub fn before(&mut self, tool: &str, arguments: &str) -> Verdict {
        let progress = self.progress;
        let Some(failure) = self.failures.get_mut(&key(tool, arguments)) else {
            return Verdict::Run;
        };
        if failure.at_progress != progress {
            // Something succeeded since: the call may work now.
            return Verdict::Run;
        }
        failure.repeats += 1;
        if failure.repeats >= STOP_AT_REPEAT {
            return Verdict::Stop(stop_message(tool, failure));
        }
        Verdict::Repeated(format!(
            "error: not run again: you already called {tool} with exactly these arguments and it failed: {}. \
             The same call fails the same way; change the arguments, use another tool, or answer with what you have.",
            failure.error
        ))
    }

    /// Records how a call that ran ended; returns the result for the model (a failure that repeats
    /// an earlier one says so), or the message that ends the run.
    pub fn after(
        &mut self,
        tool: &str,
        arguments: &str,
        result: Result<String, String>,
    ) -> Result<String, String> {
        let key = key(tool, arguments);
        let error = match result {
            Ok(text) => {
                self.progress += 1;
                self.failures.remove(&key);
                return Ok(text);
            }
            Err(error) => error,
        };
        let progress = self.progress;
        match self.failures.get_mut(&key) {
            Some(failure) if failure.error == error => {
                failure.repeats += 1;
                failure.at_progress = progress;
                if failure.repeats >= STOP_AT_REPEAT {
                    return Err(stop_message(tool, failure));
                }
                Ok(format!(
                    "error: {error}\n(This exact call already failed the same way. Do not repeat it: change the arguments, use another tool, or answer.)"
                ))
            }
            _ => {
                let failure = Failure {
                    error: error.clone(),
                    at_progress: progress,
                    repeats: 0,
                };
                self.failures.insert(key, failure);
                Ok(format!("error: {error}"))
            }
        }
    }
}

fn stop_message(tool: &str, failure: &Failure) -> String {
    format!(
        "I stopped: I kept making the same `{tool}` call, and it failed {} times with: {}. \
         Tell me how you would like me to go on (or fix what the error names).",
        failure.repeats + 1,
        failure.error
    )
}

/// A call's identity: the tool and its arguments with object keys in one order (a model may
/// write the same arguments in another order), or the text as written when it is not JSON.
fn key(tool: &str, arguments: &str) -> (String, String) {
    let arguments = match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(value) => canonical(&value),
        Err(_) => arguments.trim().to_owned(),
    };
    (tool.to_owned(), arguments)
}

fn canonical(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", serde_json::Value::from(k.as_str()), canonical(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        serde_json::Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(canonical).collect::<Vec<_>>().join(",")
            )
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(guard: &mut LoopGuard, tool: &str, args: &str, error: &str) -> Result<String, String> {
        guard.after(tool, args, Err(error.to_owned()))
    }

    #[test]
    fn a_blind_repeat_is_warned_then_stopped() {
        let mut guard = LoopGuard::default();
        assert_eq!(guard.before("list", "{}"), Verdict::Run);
        assert_eq!(
            fail(&mut guard, "list", "{}", "no such dir"),
            Ok("error: no such dir".into())
        );
        let Verdict::Repeated(warning) = guard.before("list", " { } ") else {
            panic!("the repeat is not run")
        };
        assert!(warning.contains("no such dir"), "{warning}");
        let Verdict::Stop(message) = guard.before("list", "{}") else {
            panic!("the second repeat stops")
        };
        assert!(
            message.contains("`list`") && message.contains("no such dir"),
            "{message}"
        );
    }

    #[test]
    fn other_arguments_and_successes_are_never_cut() {
        let mut guard = LoopGuard::default();
        for _ in 0..10 {
            assert_eq!(guard.before("read", r#"{"path":"a"}"#), Verdict::Run);
            assert_eq!(
                guard.after("read", r#"{"path":"a"}"#, Ok("x".into())),
                Ok("x".into())
            );
        }
        fail(&mut guard, "read", r#"{"path":"b","limit":1}"#, "missing").expect("told");
        assert_eq!(guard.before("read", r#"{"path":"c"}"#), Verdict::Run);
        assert!(
            matches!(
                guard.before("read", r#"{"limit":1,"path":"b"}"#),
                Verdict::Repeated(_)
            ),
            "key order does not matter"
        );
    }

    #[test]
    fn after_progress_a_failing_call_runs_again_and_counts_when_it_fails_the_same_way() {
        let mut guard = LoopGuard::default();
        fail(&mut guard, "exec", r#"{"cmd":"make"}"#, "exit 2").expect("told");
        guard
            .after("write", r#"{"path":"Makefile"}"#, Ok("written".into()))
            .expect("ok");
        assert_eq!(
            guard.before("exec", r#"{"cmd":"make"}"#),
            Verdict::Run,
            "it may work now"
        );
        let noted = fail(&mut guard, "exec", r#"{"cmd":"make"}"#, "exit 2").expect("told");
        assert!(noted.contains("already failed the same way"), "{noted}");
        guard
            .after("write", r#"{"path":"Makefile"}"#, Ok("written".into()))
            .expect("ok");
        assert!(
            fail(&mut guard, "exec", r#"{"cmd":"make"}"#, "exit 2").is_err(),
            "third time"
        );
        // A call that fails another way is a new failure, not a repeat.
        let mut guard = LoopGuard::default();
        fail(&mut guard, "exec", "{}", "exit 2").expect("told");
        guard.after("write", "{}", Ok(String::new())).expect("ok");
        assert_eq!(
            fail(&mut guard, "exec", "{}", "exit 3"),
            Ok("error: exit 3".into())
        );
    }
}
