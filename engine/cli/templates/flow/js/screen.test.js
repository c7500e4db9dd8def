import assert from "node:assert/strict";
import { test } from "node:test";
import { render, submit } from "./app.js";
import { Invalid } from "./stagecraft-flow.js";

test("the form asks for a decision", () => {
  assert.deepEqual(render({}).fields.map((f) => f.name), ["decision", "comment"]);
});

test("approves", () => {
  assert.deepEqual(submit({}, { decision: "approve" }), { approved: true, comment: "" });
});

test("a rejection needs a comment", () => {
  assert.throws(() => submit({}, { decision: "reject" }), Invalid);
});
