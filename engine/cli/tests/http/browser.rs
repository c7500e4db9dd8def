//! The demo story through the console in a real headless Chromium: ada
//! answers her review (a field error first), then the admin finds the run in
//! Error, tries the fix against it, deploys it with resume and watches the
//! run's page turn Completed without reloading it.
//!
//! Driven through the W3C WebDriver protocol, so that the browser tests
//! are Rust tests like the others: the same server harness and `cargo
//! test`, and no Node toolchain to install. The few WebDriver commands used
//! are sent with reqwest, already here for the HTTP tests: the WebDriver
//! client crates (fantoccini, thirtyfour) bring dependencies that change
//! the features of crates wasmtime is built from (fnv, zerofrom, syn; serde
//! and serde_json), so `cargo test --workspace` rebuilt wasmtime and
//! Cranelift after `cargo run`, minutes that CI does not have. Each page is saved as a screenshot
//! under `target/tmp/console-screenshots/<browser>/`. Chromium by default;
//! `STAGECRAFT_BROWSER=firefox` runs the same story in Firefox. Without the
//! browser and its driver the test says so loudly and passes; with
//! `CI=true` it fails.

use crate::console::work_page;
use crate::support::{ADMIN, DEADLINE, Server};
use base64::Engine as _;
use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A browser and its WebDriver server.
struct Installed {
    browser: PathBuf,
    driver: PathBuf,
    firefox: bool,
}

/// The browser `STAGECRAFT_BROWSER` names (`chromium`, the default, from
/// Debian's `chromium` and `chromium-driver`; or `firefox`, with
/// geckodriver), found on `PATH` — or `None` with a loud message.
fn installed() -> Option<Installed> {
    let find = |names: &[&str]| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
            .find(|candidate| candidate.is_file())
    };
    let firefox = std::env::var("STAGECRAFT_BROWSER").as_deref() == Ok("firefox");
    let found = if firefox {
        find(&["firefox", "firefox-esr"]).zip(find(&["geckodriver"]))
    } else {
        find(&["chromium", "chromium-browser", "google-chrome"]).zip(find(&["chromedriver"]))
    };
    let Some((browser, driver)) = found else {
        let message = if firefox {
            "no Firefox and geckodriver on PATH: the browser tests did not run"
        } else {
            "no Chromium and ChromeDriver on PATH: the browser tests did not run \
             (on Debian: apt-get install chromium chromium-driver)"
        };
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{message}; CI must run them"
        );
        eprintln!("\n!!! SKIPPED: {message} !!!\n");
        return None;
    };
    Some(Installed {
        browser,
        driver,
        firefox,
    })
}

/// A WebDriver server on a free loopback port, stopped when dropped.
struct Driver {
    process: Child,
    url: String,
}

impl Driver {
    fn start(installed: &Installed) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let process = Command::new(&installed.driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the WebDriver server");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while reqwest::blocking::get(format!("{url}/status")).is_err() {
            assert!(
                started.elapsed() < DEADLINE,
                "the WebDriver server never answered"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { process, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A WebDriver session: the commands the story needs, each a JSON request.
struct Session {
    http: Client,
    /// `<driver>/session/<id>`.
    url: String,
}

/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Session {
    fn new(driver: &Driver, capabilities: Value) -> Session {
        let http = Client::builder().timeout(DEADLINE).build().expect("client");
        let created = request(
            &http,
            Method::POST,
            &format!("{}/session", driver.url),
            json!({"capabilities": {"alwaysMatch": capabilities}}),
        )
        .unwrap_or_else(|e| panic!("a browser session: {e}"));
        let id = created["sessionId"].as_str().expect("a session id");
        Session {
            http,
            url: format!("{}/session/{id}", driver.url),
        }
    }

    /// Sends a command; the answer's `value`, or WebDriver's error.
    fn try_call(&self, method: Method, path: &str, body: Value) -> Result<Value, String> {
        request(&self.http, method, &format!("{}{path}", self.url), body)
    }

    fn call(&self, method: Method, path: &str, body: Value) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.url).send();
    }
}

fn request(http: &Client, method: Method, url: &str, body: Value) -> Result<Value, String> {
    let mut request = http.request(method.clone(), url);
    if method != Method::GET && method != Method::DELETE {
        request = request.json(&body);
    }
    let answer: Value = request
        .send()
        .and_then(|response| response.json())
        .map_err(|e| e.to_string())?;
    let value = answer["value"].clone();
    match value.get("error") {
        Some(error) => Err(format!("{error}: {}", value["message"])),
        None => Ok(value),
    }
}

/// One browser window on the console.
struct Browser<'s> {
    session: Session,
    server: &'s Server,
    shots: PathBuf,
    taken: usize,
    /// The browser's profile, removed with the test.
    _profile: tempfile::TempDir,
}

impl<'s> Browser<'s> {
    fn open(server: &'s Server, driver: &Driver, installed: &Installed) -> Browser<'s> {
        // A profile of the test's own: the drivers' default temporary one
        // could not always be created with the other tests running.
        let profile = tempfile::tempdir().expect("a browser profile");
        let capabilities = if installed.firefox {
            json!({"moz:firefoxOptions": {
                "binary": installed.browser,
                "args": ["-headless", "-width=1280", "-height=1000", "-profile", profile.path()],
            }})
        } else {
            json!({"goog:chromeOptions": {
                "binary": installed.browser,
                // Chromium's background connections are refused on a closed
                // network, many at a time: turn them off.
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run",
                         "--window-size=1280,1000",
                         format!("--user-data-dir={}", profile.path().display())],
            }})
        };
        let session = Session::new(driver, capabilities);
        let kind = if installed.firefox {
            "firefox"
        } else {
            "chromium"
        };
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("console-screenshots")
            .join(kind);
        std::fs::create_dir_all(&shots).expect("screenshot directory");
        Browser {
            session,
            server,
            shots,
            taken: 0,
            _profile: profile,
        }
    }

    fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.server.url);
        self.session
            .call(Method::POST, "/url", json!({ "url": url }));
    }

    /// The element `css` selects, once it is on the page.
    fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let found = self.session.try_call(
                Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            );
            if let Ok(element) = found {
                return element[ELEMENT].as_str().expect("an element").to_owned();
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{css} never appeared:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn send_keys(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.session.call(
            Method::POST,
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        );
    }

    fn fill(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.session.call(
            Method::POST,
            &format!("/element/{element}/clear"),
            json!({}),
        );
        if !text.is_empty() {
            self.send_keys(css, text);
        }
    }

    fn choose(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value='{value}']"));
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.session.call(
            Method::POST,
            &format!("/element/{element}/click"),
            json!({}),
        );
    }

    /// The text of the element `css` selects.
    fn text_of(&self, css: &str) -> String {
        let element = self.find(css);
        let text = self
            .session
            .call(Method::GET, &format!("/element/{element}/text"), json!({}));
        text.as_str().unwrap_or_default().to_owned()
    }

    /// The text of the page's main content (empty between pages).
    fn text(&self) -> String {
        self.script("return document.querySelector('main')?.innerText ?? '';")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the page's main content shows `expected`, and returns it.
    fn wait_for_text(&self, expected: &str) -> String {
        let started = Instant::now();
        loop {
            let text = self.text();
            if text.contains(expected) {
                return text;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "the page never showed {expected:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the run's status badge says `status`, without reloading
    /// the page.
    fn wait_for_status(&self, status: &str) {
        let started = Instant::now();
        loop {
            let shown = self.script("return document.querySelector('h1 .status')?.textContent;");
            if shown == status {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "the run's page never showed {status:?} (it shows {shown})"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn script(&self, script: &str) -> Value {
        self.session.call(
            Method::POST,
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    /// The current page's path and query.
    fn path(&self) -> String {
        let url = self.session.call(Method::GET, "/url", json!({}));
        let url = url.as_str().unwrap_or_default();
        url.strip_prefix(&self.server.url).unwrap_or(url).to_owned()
    }

    /// Saves the window as `NN-name.png` among the test's artifacts.
    fn screenshot(&mut self, name: &str) {
        let png = self.session.call(Method::GET, "/screenshot", json!({}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("a PNG in base64");
        self.taken += 1;
        let file = self.shots.join(format!("{:02}-{name}.png", self.taken));
        std::fs::write(&file, png).expect("save the screenshot");
    }

    /// Opens a second window and makes it current; returns the first one's
    /// handle.
    fn second_window(&self) -> Value {
        let first = self.session.call(Method::GET, "/window", json!({}));
        let second = self
            .session
            .call(Method::POST, "/window/new", json!({"type": "window"}));
        self.switch_to(second["handle"].clone());
        first
    }

    fn switch_to(&self, window: Value) {
        self.session
            .call(Method::POST, "/window", json!({ "handle": window }));
    }
}

#[test]
fn the_demo_story_through_the_console_in_a_real_browser() {
    let Some(installed) = installed() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    let ada_token = server.loan_setup();
    let review = server.start_loan("linus", 30000);
    let review_page = work_page(&server, &review);
    let (status, failed) = server.post(
        "/runs",
        ADMIN,
        json!({"orchestration": "loan_approval",
               "inputs": {"applicant": "zero", "income": 0, "debt": 1000, "amount": 5000}}),
    );
    assert_eq!(status, 201, "{failed}");
    let failed = failed["id"].as_str().expect("run id").to_owned();
    server.wait_run(&failed, |run| run["status"] == "error");

    let driver = Driver::start(&installed);
    let mut browser = Browser::open(&server, &driver, &installed);

    // Ada signs in with her token and finds her review in the inbox.
    browser.goto("/ui/");
    browser.find("form.sign-in");
    assert!(
        browser.path().starts_with("/ui/sign-in"),
        "{}",
        browser.path()
    );
    browser.screenshot("sign-in");
    browser.fill("#token", &ada_token);
    browser.click("form.sign-in button[type=submit]");
    browser.wait_for_text("My work");
    browser.screenshot("inbox");
    browser.click(&format!("a[href='{review_page}']"));
    browser.find("#field-decision");
    browser.wait_for_text("Review linus");
    browser.screenshot("work-item");

    // Rejecting without a comment: the screen flow's error, by its field.
    browser.choose("#field-decision", "reject");
    browser.fill("#field-comment", "");
    browser.click("form.work button[type=submit]");
    let error = browser.text_of(".field-error");
    assert!(error.contains("say why the loan is rejected"), "{error}");
    browser.screenshot("field-error");
    assert_eq!(server.wait_resting(&review)["status"], "in_progress");

    // Then validly: back to the inbox, with a confirmation.
    browser.choose("#field-decision", "approve");
    browser.click("form.work button[type=submit]");
    browser.wait_for_text("completed.");
    assert!(
        browser.path().starts_with("/ui/inbox"),
        "{}",
        browser.path()
    );
    browser.screenshot("work-item-completed");
    let done = server.wait_run(&review, |run| run["status"] != "in_progress");
    assert_eq!(done["status"], "completed", "{done}");
    browser.click("form.sign-out button[type=submit]");
    browser.find("form.sign-in");

    // The admin signs in by the one-click link, and filters the runs in Error.
    browser.goto(&format!("/ui/sign-in?next=%2Fui%2Fruns#token={ADMIN}"));
    browser.wait_for_text("Runs");
    assert!(browser.path().starts_with("/ui/runs"), "{}", browser.path());
    browser.choose("#status", "error");
    browser.click("form.filters button[type=submit]");
    browser.find(&format!("a[href='/ui/runs/{failed}']"));
    browser.screenshot("runs-in-error");
    browser.click(&format!("a[href='/ui/runs/{failed}']"));
    browser.find("svg");
    let page = browser.wait_for_text("divide by zero");
    assert!(page.contains("Recoverable"), "{page}");
    browser.screenshot("run-in-error");

    // Try the fix, uploaded and never deployed, against the input that failed.
    let fix = std::fs::canonicalize(stagecraft_example_plugins::RISK_SCORE_FIXED).expect("fix");
    let before = server.get(&format!("/runs/{failed}"), ADMIN).1;
    browser.send_keys("#try-file", &fix.to_string_lossy());
    browser.click("form.try button[type=submit]");
    browser.wait_for_text("Succeeds.");
    browser.screenshot("dry-run");
    assert_eq!(server.get(&format!("/runs/{failed}"), ADMIN).1, before);

    // The run's page stays open; in a second window, deploy the fix with
    // "resume the runs in Error on this flow".
    browser.goto(&format!("/ui/runs/{failed}"));
    browser.wait_for_text("divide by zero");
    browser.script("window.stagecraftNotReloaded = true;");
    let run_window = browser.second_window();
    browser.goto("/ui/flows");
    browser.fill("#flow-name", "risk_score");
    browser.choose("#flow-kind", "autolaunched");
    browser.send_keys("#flow-file", &fix.to_string_lossy());
    browser.click("input[name=resume_errored]");
    browser.click("form.upload button[type=submit]");
    browser.find("progress");
    assert!(
        browser.path().starts_with("/ui/jobs/"),
        "{}",
        browser.path()
    );
    browser.screenshot("resume-job");

    // Back on the run's page: it moves on by itself, not reloaded — to the
    // review (a zero income is the riskiest case), then, once ada rejects
    // the application, to Completed.
    browser.switch_to(run_window);
    browser.wait_for_status("in progress");
    browser.screenshot("run-resumed");
    let waiting = server.wait_resting(&failed);
    let item = crate::support::open_item(&waiting).expect("a review for ada");
    let (status, answered) = server.post(
        &format!("/work-items/{item}/complete"),
        &ada_token,
        json!({"answers": {"decision": "reject", "comment": "no income"}}),
    );
    assert_eq!(status, 200, "{answered}");
    browser.wait_for_status("completed");
    assert_eq!(
        browser.script("return window.stagecraftNotReloaded === true;"),
        true,
        "the page updated in place"
    );
    browser.screenshot("run-completed");
    let completed = server.get(&format!("/runs/{failed}"), ADMIN).1;
    assert_eq!(completed["status"], "completed", "{completed}");
}
