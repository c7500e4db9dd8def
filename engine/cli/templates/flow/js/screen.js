// {{name}}: a screen flow, the form behind an interactive step's work item.
//
// `render` describes the form for the step's inputs; `submit` checks the
// assignee's answers and returns the step's outputs, or throws Invalid and
// the work item stays open for a correction.
import { Invalid, screenFlow } from "./stagecraft-flow.js";

export function render({ subject = "the request" }) {
  return {
    title: `Approve ${subject}?`,
    fields: [
      {
        name: "decision",
        label: "Decision",
        type: "choice",
        required: true,
        choices: [
          ["approve", "Approve"],
          ["reject", "Reject"],
        ],
      },
      { name: "comment", label: "Comment", type: "long-text", help: "Required when rejecting." },
    ],
  };
}

export function submit(inputs, { decision, comment = "" }) {
  if (decision !== "approve" && decision !== "reject") {
    throw new Invalid({ decision: "choose approve or reject" });
  }
  if (decision === "reject" && !String(comment).trim()) {
    throw new Invalid({ comment: "say why" });
  }
  return { approved: decision === "approve", comment: String(comment) };
}

export const screen = screenFlow({ render, submit });
