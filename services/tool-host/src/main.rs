//! `pincer-tool-host`: see [`pincer_tool_host::main`] (the same code also runs inside the `pincer-services`
//! multi-call executable).

fn main() -> std::process::ExitCode {
    pincer_tool_host::main()
}
