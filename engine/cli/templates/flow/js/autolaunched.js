// {{name}}: an autolaunched flow, the work of a background step.
//
// Inputs arrive as an object (the step's inputs); the returned object is the
// step's outputs. Throw FlowError for a failure on purpose.
import { autolaunchedFlow, FlowError, log } from "./stagecraft-flow.js";

export function run({ name = "world" }) {
  if (typeof name !== "string") throw new FlowError("invalid-input", "name must be text");
  log.info("greeting", { name });
  return { greeting: `Hello, ${name}!` };
}

export const autolaunched = autolaunchedFlow(run);
