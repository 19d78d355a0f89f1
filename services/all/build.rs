//! Links the functions listed in `hot-code.txt` side by side at the start of the executables'
//! code (the linker's symbol ordering file; `scripts/hot-code.sh` makes the list).
//!
//! The kernel maps an executable's code into a process 64 KiB at a time around each page that
//! runs. The ~2 MiB of functions a turn runs were spread over ~13 MiB of pincer-services' 18 MiB of
//! code, and every 64 KiB window they touched counted in the services' resident memory: packed,
//! the code the services had mapped under 32 clients fell from 10.9 to 5.6 MiB PSS.
//!
//! The list names functions with their symbol hashes, which change with the compiler, the release
//! profile and Cargo.lock. It is used only where it can match: the compiler it was made with, at
//! the release profile's opt-level 3, for x86_64 Linux with GNU libc (linked by the Rust
//! toolchain's own lld since 1.90), and no linker of the builder's own choosing. Anywhere else
//! the build links as before. Names the list has that a build lacks are skipped silently.

use std::path::Path;
use std::process::Command;

const LIST: &str = "hot-code.txt";
const MADE_WITH: &str = "# rustc: ";

fn main() {
    println!("cargo::rerun-if-changed={LIST}");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let list = Path::new(&env("CARGO_MANIFEST_DIR")).join(LIST);
    let Ok(text) = std::fs::read_to_string(&list) else {
        return;
    };
    let Some(made_with) = text.lines().find_map(|line| line.strip_prefix(MADE_WITH)) else {
        println!("cargo::warning={LIST} does not say which compiler it was made with; not used");
        return;
    };
    let compiler = Command::new(env("RUSTC"))
        .arg("-V")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .unwrap_or_default();
    let own_linker = env("CARGO_ENCODED_RUSTFLAGS")
        .split('\x1f')
        .any(|flag| flag.contains("linker") || flag.contains("fuse-ld"));
    let matches = compiler.trim() == made_with.trim()
        && env("TARGET") == "x86_64-unknown-linux-gnu"
        && env("OPT_LEVEL") == "3"
        && std::env::var_os("RUSTC_LINKER").is_none()
        && !own_linker;
    if matches {
        println!(
            "cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}
