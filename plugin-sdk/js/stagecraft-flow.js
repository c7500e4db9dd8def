// Write Stagecraft flows in JavaScript (or TypeScript).
//
// A flow module exports one value named after its kind's WIT interface,
// made by the helper of that kind:
//
//   import { autolaunchedFlow, FlowError, log } from "./stagecraft-flow.js";
//
//   export const autolaunched = autolaunchedFlow((inputs) => {
//     if (inputs.income <= 0) throw new FlowError("invalid-input", "income must be positive");
//     log.info("scored", { applicant: inputs.name });
//     return { risk: 42 };
//   });
//
// `stagecraft flow build` turns the module into a WebAssembly component with
// jco (QuickJS backend). Under `node --test` the same module runs as plain
// JavaScript: `log` writes to stderr, and the exported objects can be called
// with JSON text as the host does.
//
// Values cross the boundary as JSON: inputs arrive as an object, outputs must
// be an object (an evaluation returns a boolean). Throwing `FlowError` is a
// failure on purpose (a recoverable step error with its code and message);
// anything else thrown traps, and its message and stack land in the step's log.

/** A failure on purpose: the step goes to a recoverable Error. */
export class FlowError extends Error {
  /** @param {string} code short and machine-readable, e.g. "invalid-input" @param {string} message for the operator */
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.name = "FlowError";
    this.code = code;
    this.detail = message;
  }
}

/** Thrown by a screen's `submit` when answers are invalid: the work item
 * stays open and the assignee corrects them. Takes `{ field: message }` or
 * `[{ field, message }]`. */
export class Invalid extends Error {
  constructor(errors) {
    const list = Array.isArray(errors)
      ? errors.map(({ field, message }) => ({ field: String(field), message: String(message) }))
      : Object.entries(errors).map(([field, message]) => ({ field, message: String(message) }));
    if (list.length === 0) throw new TypeError("Invalid needs at least one field error");
    super(list.map((e) => `${e.field}: ${e.message}`).join("; "));
    this.name = "Invalid";
    this.errors = list;
  }
}

const FIELD_TYPES = ["text", "long-text", "integer", "number", "boolean", "date", "choice"];

// The host's `stagecraft:flow/log` import, set by the entry module that
// `stagecraft flow build` generates (a global, so that any copy of this file
// finds it); absent under Node.js.
const HOST_LOG = Symbol.for("stagecraft.flow.log");

function emit(level, message, fields = {}) {
  const pairs = Object.entries(fields).map(([k, v]) => [String(k), String(v)]);
  const hostLog = globalThis[HOST_LOG];
  if (hostLog) {
    hostLog(level, String(message), pairs);
  } else {
    console.error(`[${level}] ${message}${pairs.map(([k, v]) => ` ${k}=${v}`).join("")}`);
  }
}

/** Structured log records, kept by the host with the step run:
 * `log.info("scored", { applicant: "Ada" })`. */
export const log = Object.freeze({
  trace: (message, fields) => emit("trace", message, fields),
  debug: (message, fields) => emit("debug", message, fields),
  info: (message, fields) => emit("info", message, fields),
  warn: (message, fields) => emit("warn", message, fields),
  error: (message, fields) => emit("error", message, fields),
});

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function parse(text, what = "inputs") {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new FlowError("invalid-input", `${what} are not JSON: ${e.message}`);
  }
  if (!isObject(value)) {
    throw new FlowError("invalid-input", `${what} must be a JSON object`);
  }
  return value;
}

function outputs(value) {
  if (!isObject(value)) {
    throw new FlowError("invalid-output", `a flow returns an object, not ${Array.isArray(value) ? "an array" : typeof value}`);
  }
  return JSON.stringify(value);
}

// A FlowError becomes the component's `flow-error` (jco throws it as the
// `result`'s error); anything else is rethrown and traps.
function failure(e) {
  if (e instanceof FlowError) return { code: e.code, message: e.detail };
  throw e;
}

/** The flow of a background step: `fn(inputs) -> outputs`, both objects. */
export function autolaunchedFlow(fn) {
  return {
    run(inputs) {
      try {
        return outputs(fn(parse(inputs)));
      } catch (e) {
        throw failure(e);
      }
    },
  };
}

/** An evaluation flow (an exit or entry condition): `fn(inputs) -> boolean`. */
export function evaluationFlow(fn) {
  return {
    evaluate(inputs) {
      let met;
      try {
        met = fn(parse(inputs));
      } catch (e) {
        throw failure(e);
      }
      if (typeof met !== "boolean") {
        throw failure(new FlowError("invalid-output", `an evaluation returns a boolean, not ${typeof met}`));
      }
      return met;
    },
  };
}

function field(f) {
  if (!FIELD_TYPES.includes(f.type ?? "text")) {
    throw new FlowError("invalid-output", `field ${f.name}: type must be one of ${FIELD_TYPES.join(", ")}, not ${f.type}`);
  }
  return {
    name: String(f.name),
    label: String(f.label ?? f.name),
    fieldType: f.type ?? "text",
    required: Boolean(f.required),
    choices: (f.choices ?? []).map((c) => (Array.isArray(c) ? { value: c[0], label: c[1] } : { value: c.value, label: c.label })),
    help: f.help ?? undefined,
    defaultValue: f.default === undefined ? undefined : JSON.stringify(f.default),
  };
}

/** The flow behind a work item: `{ render(inputs) -> { title, fields },
 * submit(inputs, answers) -> outputs }`. A field is `{ name, label, type,
 * required, choices, help, default }`, `type` one of "text", "long-text",
 * "integer", "number", "boolean", "date", "choice"; `submit` throws
 * `Invalid` for answers the assignee must correct. */
export function screenFlow({ render, submit }) {
  if (typeof render !== "function" || typeof submit !== "function") {
    throw new TypeError("screenFlow needs render and submit functions");
  }
  return {
    render(inputs) {
      try {
        const form = render(parse(inputs));
        return { title: String(form.title), fields: (form.fields ?? []).map(field) };
      } catch (e) {
        throw failure(e);
      }
    },
    submit(inputs, answers) {
      try {
        return outputs(submit(parse(inputs), parse(answers, "answers")));
      } catch (e) {
        if (e instanceof Invalid) throw { tag: "invalid", val: e.errors };
        throw { tag: "failed", val: failure(e) };
      }
    },
  };
}
