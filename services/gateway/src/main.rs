//! `pincer-gateway`: see [`pincer_gateway::main`] (the same code also runs inside the `pincer-services`
//! multi-call executable).

fn main() -> std::process::ExitCode {
    pincer_gateway::main()
}
