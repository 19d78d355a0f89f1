//! `pincer-channel-bridge`: see [`pincer_channel_bridge::main`] (the same code also runs inside the `pincer-services`
//! multi-call executable).

fn main() -> std::process::ExitCode {
    pincer_channel_bridge::main()
}
