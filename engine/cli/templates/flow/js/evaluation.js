// {{name}}: an evaluation flow, a condition (a stage's exit, a step's entry).
// Returns true when the condition is met.
import { evaluationFlow, FlowError } from "./stagecraft-flow.js";

export function met({ score = 0, threshold = 50 }) {
  if (typeof score !== "number" || typeof threshold !== "number") {
    throw new FlowError("invalid-input", "score and threshold must be numbers");
  }
  return score >= threshold;
}

export const evaluation = evaluationFlow(met);
