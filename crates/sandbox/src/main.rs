//! `pincer-confine POLICY PROGRAM [ARGS...]`: runs one program confined to a policy (see the
//! `pincer-sandbox` crate). The tool host uses its own binary as the helper; this one serves the
//! tests and anyone who wants to try a policy by hand.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some(pincer_sandbox::HELPER_ARG) {
        eprintln!(
            "usage: pincer-confine {} POLICY-JSON PROGRAM [ARGS...]",
            pincer_sandbox::HELPER_ARG
        );
        std::process::exit(64);
    }
    pincer_sandbox::become_child_if_asked();
}
