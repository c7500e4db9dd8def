//! The web console over HTTP, as a browser uses it: sign-in for a session
//! cookie, the inbox, a work item's form submitted with an invalid then a
//! valid answer, and what it refuses (no session, another's work, a form
//! without its CSRF token, markup from a flow's input).

use crate::support::{ADMIN, Server};
use reqwest::blocking::{Client, Response};
use reqwest::redirect::Policy;

/// A browser without JavaScript: it keeps the session cookie by hand and
/// does not follow redirects, so that the tests see them.
struct Browser<'s> {
    server: &'s Server,
    http: Client,
    cookie: Option<String>,
}

impl<'s> Browser<'s> {
    fn new(server: &'s Server) -> Self {
        Self {
            server,
            http: Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            cookie: None,
        }
    }

    fn get(&self, path: &str) -> Response {
        let mut request = self.http.get(format!("{}{path}", self.server.url));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        request.send().expect("GET")
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.server.url))
            .header("origin", &self.server.url)
            .form(form);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        request.send().expect("POST")
    }

    /// Signs in with `token`; returns the sign-in response.
    fn sign_in(&mut self, token: &str) -> Response {
        let response = self.post("/ui/sign-in", &[("token", token), ("next", "/ui/inbox")]);
        if let Some(set) = response.headers().get("set-cookie") {
            let set = set.to_str().expect("cookie").to_owned();
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        response
    }

    /// The page's text, and its CSRF token if it has a form.
    fn page(&self, path: &str) -> (u16, String, Option<String>) {
        let response = self.get(path);
        let status = response.status().as_u16();
        let text = response.text().expect("body");
        let csrf = csrf(&text);
        (status, text, csrf)
    }
}

fn csrf(page: &str) -> Option<String> {
    let at = page.find("name=\"_csrf\" value=\"")? + "name=\"_csrf\" value=\"".len();
    Some(page[at..].split('"').next()?.to_owned())
}

fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The path of a run's open work item page.
pub(crate) fn work_page(server: &Server, run: &str) -> String {
    let run = server.wait_resting(run);
    let item = crate::support::open_item(&run).expect("an open work item");
    format!("/ui/work/{item}")
}

#[test]
fn signed_out_the_console_asks_for_a_token_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    let browser = Browser::new(&server);
    let root = browser.get("/");
    assert!(root.status().is_redirection());
    assert_eq!(location(&root), "/ui");
    let inbox = browser.get("/ui/inbox");
    assert!(inbox.status().is_redirection());
    assert_eq!(location(&inbox), "/ui/sign-in?next=/ui/inbox");
    let (status, page, _) = browser.page("/ui/sign-in");
    assert_eq!(status, 200);
    assert!(page.contains("<form class=\"sign-in\""), "{page}");
    let response = browser.get("/ui/sign-in");
    let policy = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(policy.contains("script-src 'self'"), "{policy}");

    let mut browser = Browser::new(&server);
    let refused = browser.sign_in("sc_user_not_a_token");
    assert_eq!(refused.status().as_u16(), 401);
    assert!(browser.cookie.is_none());
    assert!(
        refused
            .text()
            .expect("body")
            .contains("That token is not valid.")
    );
    // The JSON API is unchanged: a bearer token, not a cookie.
    assert_eq!(server.get("/runs", "nope").0, 401);
}

#[test]
fn ada_completes_her_review_in_the_console_after_an_inline_field_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    let ada_token = server.loan_setup();
    let run = server.start_loan("linus", 30000);
    let page_path = work_page(&server, &run);

    let mut ada = Browser::new(&server);
    let signed = ada.sign_in(&ada_token);
    assert_eq!(signed.status().as_u16(), 303);
    assert_eq!(location(&signed), "/ui/inbox");
    let cookie = signed
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains(&ada_token), "the token is not the cookie");

    let (status, inbox, _) = ada.page("/ui/inbox");
    assert_eq!(status, 200);
    assert!(inbox.contains(&page_path), "{inbox}");
    assert!(inbox.contains("group underwriters: 1"), "{inbox}");
    assert!(inbox.contains("linus"), "{inbox}");

    let (status, form, csrf) = ada.page(&page_path);
    assert_eq!(status, 200, "{form}");
    assert!(form.contains("Review linus"), "{form}");
    assert!(form.contains("<select id=\"field-decision\""), "{form}");
    assert!(form.contains("<textarea id=\"field-comment\""), "{form}");
    assert!(
        form.contains("Required when rejecting."),
        "the help text: {form}"
    );
    let csrf = csrf.expect("a CSRF token");

    // Rejecting without a comment: the screen flow's error, next to its field.
    let invalid = ada.post(
        &page_path,
        &[("_csrf", &csrf), ("decision", "reject"), ("comment", "")],
    );
    assert_eq!(invalid.status().as_u16(), 422);
    let again = invalid.text().expect("body");
    assert!(again.contains("say why the loan is rejected"), "{again}");
    assert!(again.contains("field invalid"), "{again}");
    assert!(
        again.contains("<option value=\"reject\" selected>"),
        "the answer is kept: {again}"
    );
    let still = server.wait_resting(&run);
    assert_eq!(still["status"], "in_progress");

    let done = ada.post(
        &page_path,
        &[("_csrf", &csrf), ("decision", "approve"), ("comment", "")],
    );
    assert_eq!(done.status().as_u16(), 303);
    assert!(
        location(&done).starts_with("/ui/inbox?done="),
        "{}",
        location(&done)
    );
    let (_, inbox, _) = ada.page(&location(&done));
    assert!(inbox.contains("completed."), "{inbox}");
    assert!(inbox.contains("Nothing waits for you."), "{inbox}");
    let finished = server.wait_run(&run, |run| run["status"] != "in_progress");
    assert_eq!(finished["status"], "completed", "{finished}");

    // The item is closed now: the page says so instead of offering a form.
    let (_, closed, _) = ada.page(&page_path);
    assert!(closed.contains("its run moved on"), "{closed}");
    assert!(!closed.contains("<form class=\"work\""), "{closed}");

    // Signing out ends the session.
    let (_, _, csrf) = ada.page("/ui/inbox");
    let out = ada.post("/ui/sign-out", &[("_csrf", &csrf.expect("csrf"))]);
    assert_eq!(location(&out), "/ui/sign-in");
    assert!(ada.get("/ui/inbox").status().is_redirection());
}

#[test]
fn the_console_refuses_foreign_work_forms_without_their_token_and_renders_markup_inert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    let ada_token = server.loan_setup();
    // An applicant's name is the run's input: it reaches the inbox and the
    // form's title, where it must stay text.
    let hostile = "<script>alert(1)</script>";
    let (status, run) = server.post(
        "/runs",
        ADMIN,
        serde_json::json!({
            "orchestration": "loan_approval",
            "inputs": {"applicant": hostile, "income": 30000, "debt": 10000, "amount": 20000}
        }),
    );
    assert_eq!(status, 201, "{run}");
    let run = run["id"].as_str().expect("id").to_owned();
    let page_path = work_page(&server, &run);

    let mut ada = Browser::new(&server);
    ada.sign_in(&ada_token);
    for path in ["/ui/inbox", page_path.as_str()] {
        let (status, page, _) = ada.page(path);
        assert_eq!(status, 200, "{page}");
        assert!(!page.contains(hostile), "{path} renders the markup: {page}");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
    }

    // Without the CSRF token, or with another, a submission is refused and
    // nothing happens.
    for csrf in [None, Some("forged")] {
        let mut form = vec![("decision", "approve")];
        if let Some(csrf) = csrf {
            form.push(("_csrf", csrf));
        }
        let refused = ada.post(&page_path, &form);
        assert_eq!(refused.status().as_u16(), 403);
    }
    assert_eq!(server.wait_resting(&run)["status"], "in_progress");

    // Bob is no underwriter: the page is refused to him.
    assert_eq!(
        server
            .put("/users/bob", ADMIN, serde_json::json!({"name": "Bob"}))
            .0,
        200
    );
    let mut bob = Browser::new(&server);
    bob.sign_in(&server.token_for("bob"));
    let (status, page, _) = bob.page(&page_path);
    assert_eq!(status, 403, "{page}");
    let (_, inbox, _) = bob.page("/ui/inbox");
    assert!(inbox.contains("Nothing waits for you."), "{inbox}");

    // Revoking ada's tokens ends her session.
    let (status, _) = server.call(
        reqwest::Method::DELETE,
        "/users/ada/tokens",
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 200);
    assert!(ada.get("/ui/inbox").status().is_redirection());
}

#[test]
fn the_admin_finds_the_failed_run_tries_the_fix_and_resumes_it_from_the_console() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    let ada_token = server.loan_setup();
    let failed = server.start_loan("<b>zero</b>", 0);
    server.wait_run(&failed, |run| run["status"] == "error");
    let also = server.start_loan("zero2", 0);
    server.wait_run(&also, |run| run["status"] == "error");

    let mut ada = Browser::new(&server);
    ada.sign_in(&ada_token);
    let (status, _, _) = ada.page("/ui/runs");
    assert_eq!(status, 403, "runs are for the admin");

    let mut admin = Browser::new(&server);
    admin.sign_in(ADMIN);
    assert_eq!(location(&admin.get("/ui")), "/ui/runs");
    let (status, list, _) = admin.page("/ui/runs?status=error");
    assert_eq!(status, 200, "{list}");
    assert!(list.contains(&format!("/ui/runs/{failed}")), "{list}");
    assert!(list.contains("Resume every run in Error"), "{list}");
    // By the stage a run is in (in error here), in the console and the API.
    let (_, in_scoring, _) = admin.page("/ui/runs?stage=scoring");
    assert!(
        in_scoring.contains(&format!("/ui/runs/{failed}")),
        "{in_scoring}"
    );
    let (_, in_review, _) = admin.page("/ui/runs?stage=review");
    assert!(in_review.contains("No runs match."), "{in_review}");
    let (status, listed) = server.get("/runs?stage=scoring&status=error&version=1", ADMIN);
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    assert_eq!(
        server.get("/runs?stage=review", ADMIN).1,
        serde_json::json!([])
    );
    let out = crate::support::cli(&server, ADMIN, &["run", "list", "--stage", "scoring"]);
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains(&failed) && out.contains(&also), "{out}");

    let run_page = format!("/ui/runs/{failed}");
    let (status, page, csrf) = admin.page(&run_page);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<svg"), "the diagram: {page}");
    assert!(
        page.contains("s-in_error"),
        "the failed stage is marked: {page}"
    );
    assert!(page.contains("Recoverable"), "{page}");
    assert!(page.contains("divide by zero"), "the attempt's log: {page}");
    assert!(!page.contains("<b>zero</b>"), "an input is text: {page}");
    let csrf = csrf.expect("csrf");

    // Deploy the fix (by the API), try it from the page: nothing changes.
    server.deploy_flow(
        "risk_score",
        "autolaunched",
        stagecraft_example_plugins::RISK_SCORE_FIXED,
    );
    let before = server.get(&format!("/runs/{failed}"), ADMIN).1;
    let form = reqwest::blocking::multipart::Form::new()
        .text("_csrf", csrf.clone())
        .text("version", "2");
    let tried = admin.post_multipart(&format!("{run_page}/dry-run"), form);
    assert_eq!(tried.status().as_u16(), 200);
    let tried = tried.text().expect("body");
    assert!(tried.contains("Succeeds."), "{tried}");
    // An uploaded component, never deployed, likewise.
    let component = std::fs::read(stagecraft_example_plugins::RISK_SCORE_FIXED).expect("fix");
    let form = reqwest::blocking::multipart::Form::new()
        .text("_csrf", csrf.clone())
        .part(
            "file",
            reqwest::blocking::multipart::Part::bytes(component).file_name("fix.wasm"),
        );
    let tried = admin.post_multipart(&format!("{run_page}/dry-run"), form);
    let tried = tried.text().expect("body");
    assert!(
        tried.contains("an uploaded component of risk_score"),
        "{tried}"
    );
    assert!(tried.contains("Succeeds."), "{tried}");
    assert_eq!(server.get(&format!("/runs/{failed}"), ADMIN).1, before);

    // Resume: confirmed first, then done; a forged form is refused.
    let act = format!("{run_page}/act");
    assert_eq!(
        admin.post(&act, &[("action", "resume")]).status().as_u16(),
        403
    );
    let confirm = admin.post(&act, &[("_csrf", &csrf), ("action", "resume")]);
    assert_eq!(confirm.status().as_u16(), 200);
    assert!(confirm.text().expect("body").contains("Yes, resume"));
    assert_eq!(server.get(&format!("/runs/{failed}"), ADMIN).1, before);
    let done = admin.post(
        &act,
        &[("_csrf", &csrf), ("action", "resume"), ("confirmed", "yes")],
    );
    assert!(location(&done).starts_with(&format!("{run_page}?notice=")));
    let resumed = server.wait_resting(&failed);
    assert_eq!(resumed["status"], "in_progress", "{resumed}");

    // The refusal reason when the state forbids it: it is no longer in Error.
    let again = admin.post(
        &act,
        &[("_csrf", &csrf), ("action", "resume"), ("confirmed", "yes")],
    );
    assert_eq!(again.status().as_u16(), 409);

    // The rest of the runs in Error, resumed as one job from the list.
    let job = admin.post(
        "/ui/runs/resume",
        &[("_csrf", &csrf), ("flow", "risk_score")],
    );
    let job_page = location(&job);
    assert!(job_page.starts_with("/ui/jobs/"), "{job_page}");
    let (status, page, _) = admin.page(&job_page);
    assert_eq!(status, 200);
    assert!(page.contains("<progress"), "{page}");
    server.wait_resting(&also);

    // Who did what.
    let (_, audit, _) = admin.page("/ui/audit?action=run.resume");
    assert!(audit.contains(&format!("run:{failed}")), "{audit}");
    assert!(audit.contains("refused"), "{audit}");
}

impl Browser<'_> {
    fn post_multipart(&self, path: &str, form: reqwest::blocking::multipart::Form) -> Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.server.url))
            .header("origin", &self.server.url)
            .multipart(form);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        request.send().expect("POST")
    }
}

#[test]
fn the_admin_deploys_and_resumes_activates_and_deploys_definitions_from_the_console() {
    use reqwest::blocking::multipart::{Form, Part};
    use stagecraft_example_plugins as plugins;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process(dir.path());
    let ada_token = server.loan_setup();
    let failed = server.start_loan("zero", 0);
    server.wait_run(&failed, |run| run["status"] == "error");

    let mut ada = Browser::new(&server);
    ada.sign_in(&ada_token);
    assert_eq!(ada.page("/ui/flows").0, 403);
    assert_eq!(ada.page("/ui/orchestrations").0, 403);

    let mut admin = Browser::new(&server);
    admin.sign_in(ADMIN);
    let (status, page, csrf) = admin.page("/ui/flows");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("risk_score"), "{page}");
    let csrf = csrf.expect("csrf");

    // Upload the fix and resume what failed on the flow: the job's page.
    let fix = std::fs::read(plugins::RISK_SCORE_FIXED).expect("component");
    let form = |csrf: &str| {
        Form::new()
            .text("_csrf", csrf.to_owned())
            .text("name", "risk_score")
            .text("kind", "autolaunched")
            .text("resume_errored", "true")
            .part("file", Part::bytes(fix.clone()).file_name("fix.wasm"))
    };
    assert_eq!(
        admin
            .post_multipart("/ui/flows", form("forged"))
            .status()
            .as_u16(),
        403
    );
    let deployed = admin.post_multipart("/ui/flows", form(&csrf));
    let job = location(&deployed);
    let job = job
        .strip_prefix("/ui/jobs/")
        .unwrap_or_else(|| panic!("not a job page: {job}"));
    // The run rests in Error until the job resumes it: wait for the job.
    let (status, finished) =
        server.get(&format!("/jobs/{job}?wait_for=finished&timeout=60s"), ADMIN);
    assert_eq!(status, 200, "{finished}");
    assert_eq!(finished["counts"]["resumed"], 1, "{finished}");
    let resumed = server.wait_resting(&failed);
    assert_eq!(resumed["status"], "in_progress", "{resumed}");

    // Roll back to v1 from the list.
    let activated = admin.post(
        "/ui/flows/risk_score/activate",
        &[("_csrf", &csrf), ("version", "1")],
    );
    assert!(location(&activated).starts_with("/ui/flows?notice="));
    let (_, versions) = server.get("/flows/risk_score", ADMIN);
    assert_eq!(versions[0]["active"], true, "{versions}");

    // A definition with problems shows every one; a good one deploys.
    let bad = Form::new()
        .text("_csrf", csrf.clone())
        .text("definition", r#"{"format": 1, "name": "broken", "elements": [{"type": "stage", "name": "s", "steps": [{"name": "a", "kind": {"type": "background", "flow": "nope"}}], "next": "nowhere"}]}"#);
    let refused = admin.post_multipart("/ui/orchestrations", bad);
    assert_eq!(refused.status().as_u16(), 422);
    let refused = refused.text().expect("body");
    assert!(refused.contains("problem(s)"), "{refused}");
    assert!(refused.contains("nope"), "{refused}");
    assert!(refused.contains("nowhere"), "{refused}");
    let good = Form::new().text("_csrf", csrf.clone()).text(
        "definition",
        r#"{"format": 1, "name": "tiny", "elements": [{"type": "stage", "name": "only", "steps": [{"name": "a", "kind": {"type": "background", "flow": "risk_score"}}]}]}"#,
    );
    let deployed = admin.post_multipart("/ui/orchestrations", good);
    assert!(location(&deployed).starts_with("/ui/orchestrations?notice="));
    let (status, page, _) = admin.page("/ui/orchestrations/tiny/1");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<svg"), "{page}");
}

#[test]
fn the_admin_sees_a_quarantined_flow_version_and_lifts_it_from_the_console() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::in_process_with(dir.path(), |config| {
        config.engine.limits.fuel = 1000;
        config.engine.quarantine_after = std::num::NonZeroU32::new(1);
    });
    server.loan_setup();
    let failed = server.start_loan("ann", 900_000);
    server.wait_run(&failed, |run| run["status"] == "error");
    let mut admin = Browser::new(&server);
    admin.sign_in(ADMIN);
    let (status, page, csrf) = admin.page("/ui/flows");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("quarantined"), "{page}");
    assert!(page.contains("CPU budget"), "the reason is shown: {page}");
    assert!(page.contains("Lift quarantine"), "{page}");
    let csrf = csrf.expect("csrf");
    let lifted = admin.post(
        "/ui/flows/risk_score/lift-quarantine",
        &[("_csrf", &csrf), ("version", "1")],
    );
    assert!(location(&lifted).starts_with("/ui/flows?notice="));
    let (_, versions) = server.get("/flows/risk_score", ADMIN);
    assert_eq!(
        versions[0]["quarantine"],
        serde_json::Value::Null,
        "{versions}"
    );
    let (_, page, _) = admin.page("/ui/flows");
    assert!(!page.contains("Lift quarantine"), "{page}");
}
