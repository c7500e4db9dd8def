//! Deploy-time validation: C-STAGE-MIN, C-EXIT-REQ (deploy side), C-DEPLOY-REJECT (invalid
//! definitions), and every check of the design.

use serde_json::{Value, json};
use stagecraft_core::validation::Problem;

use crate::support::{
    bg, interactive, orchestration, plan, problems, requirements, stage, try_plan, with,
};

fn has(problems: &[String], path: &str, message: &str) -> bool {
    problems
        .iter()
        .any(|p| p.starts_with(path) && p.contains(message))
}

fn assert_problem(def: Value, path: &str, message: &str) {
    let found = problems(def);
    assert!(
        has(&found, path, message),
        "expected `{path}: …{message}…` in {found:#?}"
    );
}

/// C-STAGE-MIN: an orchestration without a stage is rejected.
#[test]
fn c_stage_min_orchestration_without_stage_rejected() {
    assert_problem(
        orchestration(json!([])),
        "orchestration",
        "at least one stage",
    );
    assert_problem(
        orchestration(json!([{"type": "end", "name": "done"}])),
        "orchestration",
        "at least one stage",
    );
}

fn with_conditions(count: usize) -> Value {
    let conditions: Vec<(&str, &str, Value)> = (0..count)
        .map(|i| ("input.amount", "not_equals", json!(i)))
        .collect();
    orchestration(json!([with(
        stage("s", json!([bg("a")]), json!(null)),
        "exit",
        json!({"requirements": requirements(&conditions)})
    )]))
}

/// C-EXIT-REQ: 10 requirements are allowed, 11 (or none) rejected at deploy time.
#[test]
fn c_exit_req_ten_allowed_eleven_rejected() {
    assert!(try_plan(with_conditions(10)).is_ok());
    assert_problem(
        with_conditions(11),
        "stage \"s\" › exit",
        "11 conditions given; requirements need 1 to 10",
    );
    assert_problem(
        with_conditions(0),
        "stage \"s\" › exit",
        "0 conditions given",
    );
}

/// C-DEPLOY-REJECT: an invalid definition is rejected with every problem, each pointing at its
/// element and saying what to fix.
#[test]
fn c_deploy_reject_invalid_definition_reports_every_problem() {
    let def = json!({
        "format": 2,
        "name": "broken",
        "inputs": [{"name": "x", "type": "text"}, {"name": "x", "type": "text"}],
        "elements": [
            {"type": "stage", "name": "review", "steps": [
                {"name": "approve", "entry": {"after_step": {"step": "approve"}},
                 "kind": {"type": "background", "flow": "screen"}},
                {"name": "approve", "kind": {"type": "external", "action": "nope"}}
            ], "next": "nowhere"}
        ]
    });
    let found = problems(def);
    for (path, message) in [
        ("orchestration", "format 2 is not supported"),
        ("input variable \"x\"", "declared twice"),
        (
            "stage \"review\" › step \"approve\"",
            "another step of this stage",
        ),
        (
            "stage \"review\" › step \"approve\" › entry",
            "can never start",
        ),
        (
            "stage \"review\" › step \"approve\"",
            "is of kind screen but this needs a flow of kind autolaunched",
        ),
        (
            "stage \"review\" › step \"approve\"",
            "no external action \"nope\"",
        ),
        (
            "stage \"review\" › next",
            "no element is called \"nowhere\"",
        ),
    ] {
        assert!(
            has(&found, path, message),
            "missing `{path}: {message}` in {found:#?}"
        );
    }
    let errors = try_plan(json!({"format": 1, "name": "x", "elements": []})).unwrap_err();
    assert!(
        errors
            .to_string()
            .starts_with("the orchestration has 1 problem(s):")
    );
}

/// Duplicate element names are rejected across the main path and (nested) fault paths.
#[test]
fn duplicate_element_names_across_fault_paths() {
    let def = orchestration(json!([
        with(
            stage("s", json!([bg("a")]), json!("t")),
            "fault_path",
            json!({"next": "t", "elements": [stage("t", json!([bg("x")]), json!(null))]})
        ),
        stage("t", json!([bg("b")]), json!(null)),
    ]));
    assert_problem(
        def,
        "stage \"t\"",
        "another element is already called \"t\"",
    );
}

/// Duplicate decision outcomes and declared outputs are rejected.
#[test]
fn duplicate_outcomes_and_outputs() {
    let out = with(
        bg("a"),
        "outputs",
        json!([{"name": "o", "type": "text"}, {"name": "o", "type": "text"}]),
    );
    let when = requirements(&[("input.amount", "equals", json!(1))]);
    let def = orchestration(json!([
        stage("s", json!([out]), json!("d")),
        {"type": "decision", "name": "d", "outcomes": [
            {"name": "o", "when": when, "next": null},
            {"name": "o", "when": when, "next": null}
        ], "default": {}},
    ]));
    let found = problems(def);
    assert!(has(
        &found,
        "stage \"s\" › step \"a\" › output \"o\"",
        "declared twice"
    ));
    assert!(has(
        &found,
        "decision \"d\" › outcome \"o\"",
        "another outcome"
    ));
}

/// Unknown references to inputs, stages, steps and declared outputs are rejected.
#[test]
fn unknown_references() {
    let scored = with(
        bg("a"),
        "outputs",
        json!([{"name": "score", "type": "integer"}]),
    );
    let user = with(
        bg("b"),
        "inputs",
        json!({
            "i": {"ref": "input.nope"},
            "s": {"ref": "stage.ghost.status"},
            "t": {"ref": "step.s.ghost.status"},
            "o": {"ref": "step.s.a.outputs.grade"},
            "ok": {"ref": "step.s.a.outputs.score"},
            "bad": {"ref": "stage.s"},
            "dec": {"ref": "stage.d.status"}
        }),
    );
    let def = orchestration(json!([
        stage("s", json!([scored, user]), json!("d")),
        {"type": "decision", "name": "d", "default": {}},
    ]));
    let found = problems(def);
    let step = "stage \"s\" › step \"b\"";
    assert!(has(
        &found,
        &format!("{step} › input \"i\""),
        "no input variable is called \"nope\""
    ));
    assert!(has(
        &found,
        &format!("{step} › input \"s\""),
        "no stage is called \"ghost\""
    ));
    assert!(has(
        &found,
        &format!("{step} › input \"t\""),
        "stage \"s\" has no step \"ghost\""
    ));
    assert!(has(
        &found,
        &format!("{step} › input \"o\""),
        "declares no output \"grade\""
    ));
    assert!(has(
        &found,
        &format!("{step} › input \"bad\""),
        "a stage offers only `.status`"
    ));
    assert!(has(
        &found,
        &format!("{step} › input \"dec\""),
        "no stage is called \"d\""
    ));
    assert!(
        !found.iter().any(|p| p.contains("input \"ok\"")),
        "{found:#?}"
    );
}

/// Flows must exist and be of the right kind for their use; actions must exist.
#[test]
fn flows_of_the_wrong_kind_and_unknown_actions() {
    let wrong_interactive = json!({"name": "i", "kind": {"type": "interactive", "flow": "auto", "assignee": {"user": "u"}}});
    let wrong_entry = with(
        bg("e"),
        "entry",
        json!({"evaluation_flow": {"flow": "screen"}}),
    );
    let unknown = json!({"name": "u", "kind": {"type": "background", "flow": "ghost"}});
    let def = orchestration(json!([with(
        stage(
            "s",
            json!([wrong_interactive, wrong_entry, unknown]),
            json!(null)
        ),
        "exit",
        json!({"evaluation_flow": {"flow": "auto"}})
    )]));
    let found = problems(def);
    assert!(has(
        &found,
        "stage \"s\" › step \"i\"",
        "is of kind autolaunched but this needs a flow of kind screen"
    ));
    assert!(has(
        &found,
        "stage \"s\" › step \"e\" › entry",
        "is of kind screen but this needs a flow of kind evaluation"
    ));
    assert!(has(
        &found,
        "stage \"s\" › step \"u\"",
        "no flow \"ghost\" is deployed"
    ));
    assert!(has(
        &found,
        "stage \"s\" › exit",
        "is of kind autolaunched but this needs a flow of kind evaluation"
    ));
}

/// Connectors and Go To: unknown targets, main path into a fault path, fault path into
/// another fault path.
#[test]
fn connectors_and_go_to() {
    let def = orchestration(json!([
        with(
            stage("s", json!([bg("a")]), json!("fp_b")),
            "fault_path",
            json!({"next": "ghost", "elements": [stage("fp_a", json!([bg("x")]), json!(null))]})
        ),
        with(
            stage("t", json!([bg("b")]), json!(null)),
            "fault_path",
            json!({"next": "fp_b", "elements": [stage("fp_b", json!([bg("y")]), json!("fp_a"))]})
        ),
    ]));
    let found = problems(def);
    assert!(has(
        &found,
        "stage \"s\" › next",
        "\"fp_b\" is inside a fault path"
    ));
    assert!(has(
        &found,
        "stage \"s\" › fault path › next",
        "no element is called \"ghost\""
    ));
    assert!(has(
        &found,
        "stage \"t\" › fault path › stage \"fp_b\" › next",
        "belongs to another fault path"
    ));
}

/// Custom logic: syntax errors and condition numbers out of range name the column.
#[test]
fn bad_custom_logic() {
    for (logic, message) in [
        ("1 AND (2", "column 9: expected `)`"),
        ("1 OR 3", "column 6: condition 3 does not exist"),
        ("1 NAND 2", "column 3: unknown word `NAND`"),
    ] {
        let mut exit = requirements(&[
            ("input.amount", "greater_than", json!(1)),
            ("input.amount", "less_than", json!(9)),
        ]);
        exit["logic"] = json!({"custom": logic});
        let def = orchestration(json!([with(
            stage("s", json!([bg("a")]), json!(null)),
            "exit",
            json!({"requirements": exit})
        )]));
        assert_problem(def, "stage \"s\" › exit › logic", message);
    }
}

/// Condition values: a comparison needs one; is_null takes a literal boolean.
#[test]
fn condition_values() {
    let def = orchestration(json!([with(
        stage("s", json!([bg("a")]), json!(null)),
        "exit",
        json!({"requirements": {"conditions": [
            {"resource": "input.amount", "operator": "equals"},
            {"resource": "input.amount", "operator": "is_null", "value": {"value": 3}},
            {"resource": "input.amount", "operator": "is_null", "value": {"value": false}}
        ]}})
    )]));
    let found = problems(def);
    assert!(has(
        &found,
        "stage \"s\" › exit › condition 1",
        "operator equals needs a \"value\""
    ));
    assert!(has(
        &found,
        "stage \"s\" › exit › condition 2",
        "`is_null` takes"
    ));
    assert!(!found.iter().any(|p| p.contains("condition 3")));
}

/// Steps whose entry can never be met: after itself, after an unknown step, a cycle.
#[test]
fn entries_that_can_never_be_met() {
    let after =
        |name: &str, other: &str| with(bg(name), "entry", json!({"after_step": {"step": other}}));
    let def = orchestration(json!([stage(
        "s",
        json!([
            bg("ok"),
            after("self", "self"),
            after("x", "y"),
            after("y", "x"),
            after("z", "x"),
            after("u", "ghost")
        ]),
        json!(null)
    )]));
    let found = problems(def);
    assert!(has(
        &found,
        "stage \"s\" › step \"self\" › entry",
        "self → self"
    ));
    assert!(has(&found, "stage \"s\" › step \"x\" › entry", "x → y → x"));
    assert!(has(
        &found,
        "stage \"s\" › step \"z\" › entry",
        "z → x → y → x"
    ));
    assert!(has(
        &found,
        "stage \"s\" › step \"u\" › entry",
        "no step \"ghost\""
    ));
}

/// A decision needs a default outcome.
#[test]
fn decision_without_default() {
    let def = orchestration(json!([
        stage("s", json!([bg("a")]), json!("d")),
        {"type": "decision", "name": "d", "outcomes": [
            {"name": "o", "when": requirements(&[("input.amount", "equals", json!(1))])}
        ]},
    ]));
    assert_problem(def, "decision \"d\"", "needs a \"default\" outcome");
}

/// Paths that can never reach an end: A → B → A with nothing leaving the loop.
#[test]
fn loop_without_exit_never_ends() {
    let def = orchestration(json!([
        stage("a", json!([bg("x")]), json!("b")),
        stage("b", json!([bg("y")]), json!("a")),
    ]));
    let found = problems(def);
    assert!(has(
        &found,
        "stage \"a\"",
        "no path from here reaches an end"
    ));
    assert!(has(
        &found,
        "stage \"b\"",
        "no path from here reaches an end"
    ));
    // A decision or a fault path leaving the loop makes it fine.
    let with_fault = orchestration(json!([
        stage("a", json!([bg("x")]), json!("b")),
        with(
            stage("b", json!([bg("y")]), json!("a")),
            "fault_path",
            json!({})
        ),
    ]));
    assert!(try_plan(with_fault).is_ok());
    let with_decision = orchestration(json!([
        stage("a", json!([bg("x")]), json!("d")),
        {"type": "decision", "name": "d", "outcomes": [
            {"name": "again", "when": requirements(&[("input.amount", "equals", json!(1))]), "next": "a"}
        ], "default": {}},
    ]));
    assert!(try_plan(with_decision).is_ok());
}

/// Decisions looping among themselves are rejected even if a way out exists.
#[test]
fn decision_loop_rejected() {
    let when = requirements(&[("input.amount", "equals", json!(1))]);
    let def = orchestration(json!([
        stage("s", json!([bg("a")]), json!("d1")),
        {"type": "decision", "name": "d1", "outcomes": [{"name": "o", "when": when, "next": "d2"}], "default": {}},
        {"type": "decision", "name": "d2", "outcomes": [{"name": "o", "when": when, "next": "d1"}], "default": {}},
    ]));
    assert_problem(
        def,
        "decision \"d1\"",
        "decisions loop through d1 → d2 → d1",
    );
}

/// Unreachable elements are errors (a dead element is almost always a wiring mistake).
#[test]
fn unreachable_element_rejected() {
    let def = orchestration(json!([
        stage("s", json!([bg("a")]), json!(null)),
        stage("orphan", json!([bg("b")]), json!(null)),
    ]));
    assert_problem(def, "stage \"orphan\"", "nothing leads to this element");
}

/// Names: invalid names and stages without steps are rejected; assignee ids are non-empty.
#[test]
fn names_steps_and_assignees() {
    let def = orchestration(json!([
        stage(
            "a.b",
            json!([bg("x.y"), interactive("i", json!({"user": ""}))]),
            json!("e")
        ),
        stage("e", json!([]), json!(null)),
    ]));
    let found = problems(def);
    assert!(has(&found, "stage \"a.b\"", "name \"a.b\" is invalid"));
    assert!(has(
        &found,
        "stage \"a.b\" › step \"x.y\"",
        "name \"x.y\" is invalid"
    ));
    assert!(has(
        &found,
        "stage \"a.b\" › step \"i\" › assignee",
        "assignee id is empty"
    ));
    assert!(has(&found, "stage \"e\"", "at least one step"));
}

/// Typed problems are available to tools, not only strings.
#[test]
fn problems_are_typed() {
    let errors = try_plan(with_conditions(11)).unwrap_err();
    assert!(
        errors
            .0
            .iter()
            .any(|e| e.problem == Problem::RequirementCount { count: 11 })
    );
}

/// Long `after_step` chains validate (in linear time: see the core's chain walk), and a long
/// loop is reported with its text cut short.
#[test]
fn long_after_step_chains_validate_and_long_loops_are_cut_short() {
    let after =
        |name: &str, other: &str| with(bg(name), "entry", json!({"after_step": {"step": other}}));
    let n = stagecraft_core::validation::MAX_STEPS_PER_STAGE;
    let mut steps = vec![bg("s0")];
    steps.extend((1..n).map(|i| after(&format!("s{i}"), &format!("s{}", i - 1))));
    plan(orchestration(json!([stage(
        "s",
        json!(steps),
        json!(null)
    )])));

    steps[0] = after("s0", &format!("s{}", n - 1));
    let found = problems(orchestration(json!([stage(
        "s",
        json!(steps),
        json!(null)
    )])));
    assert_eq!(found.len(), n, "every step of the loop is reported");
    assert!(
        found[0].contains("s0 → s999 → s998") && found[0].contains("→ … never reaches"),
        "{}",
        found[0]
    );
}

/// The documented size limits: steps per stage, elements, fault path nesting.
#[test]
fn definitions_past_the_size_limits_are_refused() {
    use stagecraft_core::validation::{MAX_ELEMENTS, MAX_FAULT_PATH_NESTING, MAX_STEPS_PER_STAGE};
    let steps: Vec<Value> = (0..=MAX_STEPS_PER_STAGE)
        .map(|i| bg(&format!("s{i}")))
        .collect();
    assert_problem(
        orchestration(json!([stage("s", json!(steps), json!(null))])),
        "stage \"s\"",
        "steps in this stage: 1001, at most 1000",
    );

    let stages: Vec<Value> = (0..=MAX_ELEMENTS)
        .map(|i| stage(&format!("st{i}"), json!([bg("a")]), json!(null)))
        .collect();
    let found = problems(orchestration(json!(stages)));
    assert!(
        found
            .iter()
            .any(|p| p.contains("elements, fault paths included: 1001")),
        "{found:?}"
    );

    let mut nested = stage("deepest", json!([bg("a")]), json!(null));
    for level in 0..=MAX_FAULT_PATH_NESTING {
        let mut outer = stage(&format!("level{level}"), json!([bg("a")]), json!(null));
        outer["fault_path"] = json!({"elements": [nested], "next": null});
        nested = outer;
    }
    let found = problems(orchestration(json!([nested])));
    assert!(
        found
            .iter()
            .any(|p| p.contains("fault paths nested in fault paths: 9, at most 8")),
        "{found:?}"
    );
}
