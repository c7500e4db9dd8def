import assert from "node:assert/strict";
import { test } from "node:test";
import { met } from "./app.js";
import { FlowError } from "./stagecraft-flow.js";

test("not met without inputs", () => {
  assert.equal(met({}), false);
});

test("met at the threshold", () => {
  assert.equal(met({ score: 50 }), true);
  assert.equal(met({ score: 7, threshold: 5 }), true);
});

test("refuses a score that is not a number", () => {
  assert.throws(() => met({ score: "high" }), FlowError);
});
