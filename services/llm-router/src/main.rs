//! `pincer-llm-router`: see [`pincer_llm_router::main`] (the same code also runs inside the `pincer-services`
//! multi-call executable).

fn main() -> std::process::ExitCode {
    pincer_llm_router::main()
}
