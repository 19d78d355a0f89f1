//! The fake as a process, as the `fake-telegram` image runs it: it says where it listens and
//! answers with the Bot API's own error shape.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the fake when the test ends, passed or not.
struct Fake(Child);

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_process_answers_an_unknown_bot_with_the_bot_apis_401() {
    let mut fake = Fake(
        Command::new(env!("CARGO_BIN_EXE_pincer-fake-telegram"))
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the fake starts"),
    );
    let mut line = String::new();
    BufReader::new(fake.0.stdout.take().expect("its stdout"))
        .read_line(&mut line)
        .expect("it says where it listens");
    let address = line
        .trim()
        .strip_prefix("fake telegram listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();

    let mut stream = TcpStream::connect(&address).expect("it listens where it says");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    write!(
        stream,
        "GET /botnobody:token/getMe HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("the request is sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("the whole answer");

    assert!(
        response.starts_with("HTTP/1.1 401"),
        "not a 401: {response}"
    );
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(
        body.contains(r#""ok":false"#) && body.contains(r#""error_code":401"#),
        "not the Bot API's error shape: {body}"
    );
}
