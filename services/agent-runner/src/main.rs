//! `pincer-agent-runner`: see [`pincer_agent_runner::main`] (the same code also runs inside the `pincer-services`
//! multi-call executable).

fn main() -> std::process::ExitCode {
    pincer_agent_runner::main()
}
