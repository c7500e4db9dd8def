// Evaluation flow, in JavaScript: is the applicant's risk acceptable for
// automatic approval? True when the risk (0 to 100) is at or below the
// threshold (40 unless the step says otherwise).
import { evaluationFlow, FlowError } from "../../../plugin-sdk/js/stagecraft-flow.js";

export function acceptable({ risk, threshold = 40 }) {
  if (!Number.isInteger(risk) || risk < 0 || risk > 100) {
    throw new FlowError("invalid-input", `risk must be an integer between 0 and 100, got ${risk}`);
  }
  return risk <= threshold;
}

export const evaluation = evaluationFlow(acceptable);
