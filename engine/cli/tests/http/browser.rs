//! The demo story through the console in a real headless Chromium: ada
//! answers her review (a field error first), then the admin finds the run in
//! Error, tries the fix against it, deploys it with resume and watches the
//! run's page turn Completed without reloading it.
//!
//! Driven through WebDriver by fantoccini, so that the browser tests are
//! Rust tests like the others: the same server harness and `cargo test`,
//! and no Node toolchain to install. Each page is saved as a screenshot
//! under `target/tmp/console-screenshots/<browser>/`. Chromium by default;
//! `STAGECRAFT_BROWSER=firefox` runs the same story in Firefox. Without the
//! browser and its driver the test says so loudly and passes; with
//! `CI=true` it fails.

use crate::console::work_page;
use crate::support::{ADMIN, DEADLINE, Server};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

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

/// One browser window on the console, driven step by step from a
/// synchronous test (the server helpers block, so they stay outside the
/// async runtime).
struct Browser<'s> {
    runtime: Runtime,
    client: Client,
    server: &'s Server,
    shots: PathBuf,
    taken: usize,
}

impl<'s> Browser<'s> {
    fn open(server: &'s Server, driver: &Driver, installed: &Installed) -> Browser<'s> {
        let runtime = Runtime::new().expect("runtime");
        let mut capabilities = serde_json::Map::new();
        if installed.firefox {
            capabilities.insert(
                "moz:firefoxOptions".to_owned(),
                json!({"binary": installed.browser,
                       "args": ["-headless", "-width=1280", "-height=1000"]}),
            );
        } else {
            capabilities.insert(
                "goog:chromeOptions".to_owned(),
                json!({
                    "binary": installed.browser,
                    // Chromium's background connections are refused on a
                    // closed network, many at a time: turn them off.
                    "args": ["--headless", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--disable-background-networking",
                             "--disable-component-update", "--disable-sync", "--no-first-run",
                             "--window-size=1280,1000"],
                }),
            );
        }
        let client = runtime
            .block_on(
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&driver.url),
            )
            .expect("a browser session");
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
            runtime,
            client,
            server,
            shots,
            taken: 0,
        }
    }

    fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.server.url);
        self.runtime
            .block_on(self.client.goto(&url))
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The element `css` selects, once it is on the page.
    fn find(&self, css: &str) -> Element {
        self.runtime
            .block_on(
                self.client
                    .wait()
                    .at_most(DEADLINE)
                    .for_element(Locator::Css(css)),
            )
            .unwrap_or_else(|e| panic!("{css} never appeared: {e}\n{}", self.text()))
    }

    fn fill(&self, css: &str, text: &str) {
        let field = self.find(css);
        self.runtime
            .block_on(async {
                field.clear().await?;
                field.send_keys(text).await
            })
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    fn choose(&self, css: &str, value: &str) {
        let select = self.find(css);
        self.runtime
            .block_on(select.select_by_value(value))
            .unwrap_or_else(|e| panic!("choose {value} in {css}: {e}"));
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.runtime
            .block_on(element.click())
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// The text of the page's main content.
    fn text(&self) -> String {
        self.runtime
            .block_on(async { self.client.find(Locator::Css("main")).await?.text().await })
            .unwrap_or_default()
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
            let shown = self.script("return document.querySelector('h1 .status').textContent;");
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
        self.runtime
            .block_on(self.client.execute(script, Vec::new()))
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    fn path(&self) -> String {
        let url = self
            .runtime
            .block_on(self.client.current_url())
            .expect("current url");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Saves the window as `NN-name.png` among the test's artifacts.
    fn screenshot(&mut self, name: &str) {
        let png = self
            .runtime
            .block_on(self.client.screenshot())
            .expect("screenshot");
        self.taken += 1;
        let file = self.shots.join(format!("{:02}-{name}.png", self.taken));
        std::fs::write(&file, png).expect("save the screenshot");
    }

    /// Opens a second window and makes it current; returns the first one's
    /// handle.
    fn second_window(&self) -> fantoccini::wd::WindowHandle {
        self.runtime
            .block_on(async {
                let first = self.client.window().await?;
                let second = self.client.new_window(false).await?;
                self.client.switch_to_window(second.handle).await?;
                Ok::<_, fantoccini::error::CmdError>(first)
            })
            .expect("a second window")
    }

    fn switch_to(&self, window: fantoccini::wd::WindowHandle) {
        self.runtime
            .block_on(self.client.switch_to_window(window))
            .expect("switch windows");
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = self.runtime.block_on(self.client.clone().close());
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
    let error = browser.find(".field-error");
    let error = browser
        .runtime
        .block_on(error.text())
        .expect("the error's text");
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
    browser
        .runtime
        .block_on(browser.find("#try-file").send_keys(&fix.to_string_lossy()))
        .expect("choose the component");
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
    browser
        .runtime
        .block_on(browser.find("#flow-file").send_keys(&fix.to_string_lossy()))
        .expect("choose the component");
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
