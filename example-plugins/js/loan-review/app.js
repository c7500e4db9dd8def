// Screen flow, in JavaScript: an underwriter reviews a loan application.
import { Invalid, log, screenFlow } from "../../../plugin-sdk/js/stagecraft-flow.js";

export const screen = screenFlow({
  render({ applicant, amount, risk }) {
    return {
      title: `Review ${applicant}'s loan of ${amount} (risk ${risk})`,
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
  },
  submit(inputs, { decision, comment = "" }) {
    if (decision !== "approve" && decision !== "reject") {
      throw new Invalid({ decision: `choose approve or reject, not ${JSON.stringify(decision)}` });
    }
    if (decision === "reject" && !String(comment).trim()) {
      throw new Invalid({ comment: "say why the loan is rejected" });
    }
    log.info("reviewed", { applicant: inputs.applicant, decision });
    return { approved: decision === "approve", comment: String(comment) };
  },
});
