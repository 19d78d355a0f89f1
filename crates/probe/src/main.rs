//! `pincer-probe URL`: one HTTP/1.1 GET; exit 0 on a 2xx status, 1 on anything else.
//!
//! It is the Docker HEALTHCHECK of images without a shell or curl (the NATS image), so it has no
//! dependencies, bounded time (2 s to connect, 2 s per read, 5 s in all) and a one-line reason on
//! stderr when it fails. Docker reserves exit code 2, so every failure, usage errors included, is 1.

mod probe;

use std::process::ExitCode;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const IO_TIMEOUT: Duration = Duration::from_secs(2);
const DEADLINE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(url), None) = (args.next(), args.next()) else {
        eprintln!("usage: pincer-probe http://HOST:PORT/PATH");
        return ExitCode::FAILURE;
    };
    let limits = probe::Limits {
        connect: CONNECT_TIMEOUT,
        io: IO_TIMEOUT,
        total: DEADLINE,
    };
    match probe::Target::parse(&url).and_then(|target| probe::get_status(&target, &limits)) {
        Ok(status) if (200..300).contains(&status.code) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!(
                "pincer-probe: {url}: HTTP {} {}",
                status.code, status.reason
            );
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("pincer-probe: {url}: {err}");
            ExitCode::FAILURE
        }
    }
}
