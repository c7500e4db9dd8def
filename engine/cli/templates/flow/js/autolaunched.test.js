import assert from "node:assert/strict";
import { test } from "node:test";
import { autolaunched, run } from "./app.js";
import { FlowError } from "./stagecraft-flow.js";

test("greets the world without inputs", () => {
  assert.deepEqual(run({}), { greeting: "Hello, world!" });
});

test("greets by name, through JSON as the host calls it", () => {
  assert.equal(autolaunched.run('{"name": "Ada"}'), '{"greeting":"Hello, Ada!"}');
});

test("refuses a name that is not text", () => {
  assert.throws(() => run({ name: 42 }), FlowError);
});
