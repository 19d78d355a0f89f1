//! A small W3C WebDriver client driving Debian's `chromium` through `chromedriver`, for tests of
//! the Control UI in a real headless browser. Only what those tests use: navigate, find, click,
//! type, read text and attributes, run a script, take screenshots.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian puts the browser and its driver (`apt-get install chromium chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A browser session; the driver and the browser it started are killed on drop.
pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

/// An element found on the page.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless chromium window of 1280×800.
    pub async fn start() -> Self {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: apt-get install chromium chromium-driver (scripts/test.sh installs them)"
            );
        }
        let port = crate::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            // A process group of its own, which the chromium it starts joins: on drop the group
            // goes, not just the driver. Killing the driver alone left each run's browser behind.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,800", "--no-first-run", "--disable-extensions",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let response: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let session = response["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {response}"))
            .to_owned();
        Self {
            driver,
            base: format!("{base}/session/{session}"),
            http,
            _profile: profile,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request
            .send()
            .await
            .expect("webdriver answers")
            .json()
            .await
            .expect("webdriver json");
        response["value"].clone()
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The first element matching `css`, if any.
    pub async fn find(&self, css: &str) -> Option<Element> {
        let value = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        value[ELEMENT].as_str().map(|id| Element(id.to_owned()))
    }

    /// Waits until an element matching `css` exists and `check` accepts it.
    pub async fn wait_for(&self, css: &str, what: &str, check: impl AsyncCheck) -> Element {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(element) = self.find(css).await
                && check.accepts(self, &element).await
            {
                return element;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {css}: {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks; panics when the browser did not (a click that failed in silence would only show as
    /// a later wait timing out).
    pub async fn click(&self, element: &Element) {
        if let Err(error) = self.try_click(element).await {
            panic!("click refused: {error}");
        }
    }

    /// Clicks the first element matching `css`, found again while the click fails (as it does on
    /// an element the page has replaced since it was found: a list it re-renders on a timer).
    pub async fn click_on(&self, css: &str, what: &str) {
        let clicked = format!("a click on {css} ({what})");
        crate::eventually_seen(&clicked, Duration::from_secs(20), || async {
            match self.find(css).await {
                Some(element) => self.try_click(&element).await,
                None => Err("not found".to_owned()),
            }
        })
        .await;
    }

    /// Clicks, or says why the browser would not (`stale element reference`, ...).
    async fn try_click(&self, element: &Element) -> Result<(), String> {
        let value = self
            .command(
                reqwest::Method::POST,
                &format!("/element/{}/click", element.0),
                Some(json!({})),
            )
            .await;
        match value["error"].as_str() {
            None => Ok(()),
            Some(error) => Err(format!("{error}: {}", value["message"])),
        }
    }

    /// Types into an input.
    pub async fn type_text(&self, element: &Element, text: &str) {
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/clear", element.0),
            Some(json!({})),
        )
        .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Visible text.
    pub async fn text(&self, element: &Element) -> String {
        self.command(
            reqwest::Method::GET,
            &format!("/element/{}/text", element.0),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// An attribute.
    pub async fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        self.command(
            reqwest::Method::GET,
            &format!("/element/{}/attribute/{name}", element.0),
            None,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// Runs a script and returns its value.
    pub async fn script(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Saves a PNG of the window to `dir/name.png`; returns the path.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> PathBuf {
        let encoded = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("screenshot data"))
            .expect("base64 png");
        std::fs::create_dir_all(dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).expect("screenshot written");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver leads its group (`process_group(0)`), so its id is the group's.
        if let Ok(group) = i32::try_from(self.driver.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(group),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A condition on an element, checked while waiting.
pub trait AsyncCheck {
    /// Whether `element` satisfies it.
    fn accepts(&self, browser: &Browser, element: &Element) -> impl Future<Output = bool>;
}

/// Any element matching.
pub struct Present;

impl AsyncCheck for Present {
    async fn accepts(&self, _: &Browser, _: &Element) -> bool {
        true
    }
}

/// Its text contains this.
pub struct TextContains<'a>(pub &'a str);

impl AsyncCheck for TextContains<'_> {
    async fn accepts(&self, browser: &Browser, element: &Element) -> bool {
        browser.text(element).await.contains(self.0)
    }
}

/// This attribute has this value.
pub struct AttributeIs<'a>(pub &'a str, pub &'a str);

impl AsyncCheck for AttributeIs<'_> {
    async fn accepts(&self, browser: &Browser, element: &Element) -> bool {
        browser.attribute(element, self.0).await.as_deref() == Some(self.1)
    }
}
