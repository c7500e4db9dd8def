//! Starts the real binary (or, for tests that need no process of their
//! own, the server library in this process) and talks to it.

use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The admin token the test servers are configured with.
pub const ADMIN: &str = "test-admin-token-0123456789";

/// The demo orchestration.
pub const LOAN_APPROVAL: &str = include_str!("../../../../example-plugins/loan_approval.json");

/// How long anything may take before a test gives up.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// The `stagecraft` binary under test.
pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stagecraft"))
}

/// Runs a client command of `stagecraft` against `server` with `token`.
pub fn cli(server: &Server, token: &str, args: &[&str]) -> std::process::Output {
    binary()
        .args(args)
        .env("STAGECRAFT_URL", &server.url)
        .env("STAGECRAFT_TOKEN", token)
        .env_remove("RUST_LOG")
        .output()
        .expect("run stagecraft")
}

/// How a test server runs.
enum Serving {
    /// A `stagecraft serve` child process, killed when dropped.
    Process(Child),
    /// `stagecraft_server::serve` on a runtime of its own in this process,
    /// stopped (its engine shut down) when dropped.
    InProcess {
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    },
}

/// A server under test: a `stagecraft serve` process, or the server library
/// in this process with the same defaults (and the example actions).
pub struct Server {
    serving: Serving,
    /// Its base URL.
    pub url: String,
    http: Client,
}

impl Server {
    /// Starts `stagecraft serve` on 127.0.0.1:0 with `data_dir` and the
    /// example actions, and reads the address it prints.
    pub fn start(data_dir: &Path) -> Server {
        Self::start_with(data_dir, &["--example-actions"])
    }

    /// Starts `stagecraft serve` on 127.0.0.1:0 with `data_dir` and `args`.
    pub fn start_with(data_dir: &Path, args: &[&str]) -> Server {
        Self::spawn(data_dir, args, Stdio::inherit())
    }

    /// [`Server::start_with`], its log (stderr) written to `log`.
    pub fn start_logged(data_dir: &Path, args: &[&str], log: &Path) -> Server {
        let file = std::fs::File::create(log).expect("the log file");
        Self::spawn(data_dir, args, Stdio::from(file))
    }

    fn spawn(data_dir: &Path, args: &[&str], stderr: Stdio) -> Server {
        let mut child = binary()
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("STAGECRAFT_ADMIN_TOKEN", ADMIN)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start stagecraft serve");
        let stdout = child.stdout.take().expect("stdout");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            serving: Serving::Process(child),
            url: String::new(),
            http: Client::builder()
                .timeout(DEADLINE)
                .build()
                .expect("http client"),
        };
        let started = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(started.elapsed());
            let line = received
                .recv_timeout(left)
                .expect("the server prints its address (or it died)");
            if let Some(url) = line.strip_prefix("stagecraft listening on ") {
                server.url = url.trim().to_owned();
                break;
            }
        }
        server
    }

    /// Serves `data_dir` in this process, as `stagecraft serve
    /// --example-actions` with its defaults would: for tests that need only
    /// the HTTP API and the console, not a process (no signals, no restart,
    /// no command line).
    pub fn in_process(data_dir: &Path) -> Server {
        Self::in_process_with(data_dir, |_| {})
    }

    /// [`Server::in_process`], with `configure` changing the settings first.
    pub fn in_process_with(
        data_dir: &Path,
        configure: impl FnOnce(&mut stagecraft_server::ServerConfig),
    ) -> Server {
        let mut config = stagecraft_server::ServerConfig {
            addr: ([127, 0, 0, 1], 0).into(),
            engine: stagecraft_engine::EngineConfig::new(data_dir),
            admin_token: Some(ADMIN.to_owned()),
            example_actions: true,
            database: None,
            lease_ttl: stagecraft_store_postgres::DEFAULT_LEASE_TTL,
            rate_limit: stagecraft_server::RateLimit::default(),
        };
        configure(&mut config);
        let (url_tx, url_rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let running = stagecraft_server::serve(config).await.expect("it serves");
                let _ = url_tx.send(running.url.clone());
                let _ = stopped.await;
                running.stop().await.expect("it stops cleanly");
            });
        });
        let url = url_rx
            .recv_timeout(DEADLINE)
            .expect("the server starts (or it panicked)");
        Server {
            serving: Serving::InProcess {
                stop: Some(stop),
                thread: Some(thread),
            },
            url,
            http: Client::builder()
                .timeout(DEADLINE)
                .build()
                .expect("http client"),
        }
    }

    fn child(&mut self) -> &mut Child {
        match &mut self.serving {
            Serving::Process(child) => child,
            Serving::InProcess { .. } => panic!("an in-process server has no process"),
        }
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        match &self.serving {
            Serving::Process(child) => child.id(),
            Serving::InProcess { .. } => panic!("an in-process server has no process"),
        }
    }

    /// Waits for the process to exit on its own.
    pub fn wait_exit(mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child().try_wait().expect("try_wait") {
                return status;
            }
            assert!(started.elapsed() < DEADLINE, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A request; returns the status and the JSON body (`null` if empty or
    /// not JSON).
    pub fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().expect("request");
        let status = response.status().as_u16();
        let bytes = response.bytes().expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// `POST /runs` as the admin with an `Idempotency-Key`: the status,
    /// whether the answer says it was replayed, and the body.
    pub fn start_once(&self, key: &str, body: Value) -> (u16, bool, Value) {
        let response = self
            .http
            .post(format!("{}/runs", self.url))
            .bearer_auth(ADMIN)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .expect("request");
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|value| value == "true");
        (status, replayed, response.json().unwrap_or(Value::Null))
    }

    /// A request as `token` that may fail in transport (its node died or
    /// is stopping): `None` then. With `key`, sent with that
    /// `Idempotency-Key`.
    pub fn try_call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Option<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
            .timeout(Duration::from_secs(30));
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().ok()?;
        let status = response.status().as_u16();
        let bytes = response.bytes().ok()?;
        Some((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// A `GET` as the admin with the `Stagecraft-Wait` header's value.
    pub fn get_waiting(&self, path: &str) -> (u16, Option<String>, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(ADMIN)
            .send()
            .expect("request");
        let status = response.status().as_u16();
        let wait = response
            .headers()
            .get("stagecraft-wait")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        (status, wait, response.json().unwrap_or(Value::Null))
    }

    /// A request with a raw body and content type, as the admin.
    pub fn http_raw(
        &self,
        method: Method,
        path: &str,
        body: &str,
        content_type: &str,
    ) -> (u16, Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// `GET` as `token`.
    pub fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(Method::GET, path, Some(token), None)
    }

    /// `POST` of JSON as `token`.
    pub fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(token), Some(body))
    }

    /// `PUT` of JSON as `token`.
    pub fn put(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(token), Some(body))
    }

    /// Uploads raw bytes as a flow version.
    pub fn upload(&self, name: &str, kind: &str, bytes: Vec<u8>, token: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/flows/{name}?kind={kind}", self.url))
            .bearer_auth(token)
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
            .expect("upload");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// POSTs a component (or nothing) as raw bytes with the admin token.
    pub fn post_bytes(&self, path: &str, component: Option<&str>) -> (u16, Value) {
        let bytes = component.map_or_else(Vec::new, |path| std::fs::read(path).expect("component"));
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(ADMIN)
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// Deploys an example component, expecting success.
    pub fn deploy_flow(&self, name: &str, kind: &str, path: &str) -> Value {
        let (status, record) =
            self.upload(name, kind, std::fs::read(path).expect("component"), ADMIN);
        assert_eq!(status, 201, "deploy {name}: {record}");
        record
    }

    /// Sets up the loan demo: ada in underwriters, the three flows (risk
    /// score v1, which traps on a zero income) and the orchestration.
    /// Returns ada's token.
    pub fn loan_setup(&self) -> String {
        use stagecraft_example_plugins as plugins;
        assert_eq!(self.put("/users/ada", ADMIN, json!({"name": "Ada"})).0, 200);
        assert_eq!(
            self.put(
                "/groups/underwriters",
                ADMIN,
                json!({"name": "Underwriters", "members": ["ada"]})
            )
            .0,
            200
        );
        self.deploy_flow("risk_score", "autolaunched", plugins::RISK_SCORE);
        self.deploy_flow("credit_check", "evaluation", plugins::CREDIT_CHECK);
        self.deploy_flow("loan_review", "screen", plugins::LOAN_REVIEW);
        let definition: Value = serde_json::from_str(LOAN_APPROVAL).expect("definition");
        let (status, record) = self.post("/orchestrations", ADMIN, definition);
        assert_eq!(status, 201, "{record}");
        self.token_for("ada")
    }

    /// Issues a token for `user`.
    pub fn token_for(&self, user: &str) -> String {
        let (status, issued) = self.post(&format!("/users/{user}/tokens"), ADMIN, Value::Null);
        assert_eq!(status, 201, "{issued}");
        issued["token"].as_str().expect("token").to_owned()
    }

    /// Starts a loan application; returns the run id.
    pub fn start_loan(&self, applicant: &str, income: u64) -> String {
        let (status, run) = self.post(
            "/runs",
            ADMIN,
            json!({
                "orchestration": "loan_approval",
                "inputs": {"applicant": applicant, "income": income, "debt": 10000, "amount": 20000}
            }),
        );
        assert_eq!(status, 201, "{run}");
        run["id"].as_str().expect("run id").to_owned()
    }

    /// Polls the run until `condition` holds (bounded by [`DEADLINE`]).
    pub fn wait_run(&self, id: &str, condition: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let (status, run) = self.get(&format!("/runs/{id}"), ADMIN);
            assert_eq!(status, 200, "{run}");
            if condition(&run) {
                return run;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "run {id} never reached the state: {run}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until the run is no longer in progress, or has an open work item.
    pub fn wait_resting(&self, id: &str) -> Value {
        self.wait_run(id, |run| {
            run["status"] != "in_progress" || open_item(run).is_some()
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        match &mut self.serving {
            Serving::Process(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Serving::InProcess { stop, thread } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                if let Some(thread) = thread.take() {
                    let _ = thread.join();
                }
            }
        }
    }
}

/// The id of the run's open work item, if any.
pub fn open_item(run: &Value) -> Option<String> {
    run["work_items"]
        .as_array()?
        .iter()
        .find(|item| item["status"] == "assigned")
        .and_then(|item| item["id"].as_str())
        .map(str::to_owned)
}

/// Asserts an error response: status, code, and the error shape.
pub fn assert_error(response: &(u16, Value), status: u16, code: &str) {
    let (got, body) = response;
    assert_eq!(*got, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}
