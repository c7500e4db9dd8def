"""Screen flow, in Python: an underwriter reviews a loan application."""

from stagecraft_flow import Field, Form, Invalid, screen


@screen
class LoanReview:
    def render(self, inputs: dict) -> Form:
        return Form(
            f"Review {inputs['applicant']}'s loan of {inputs['amount']} (risk {inputs['risk']})",
            [
                Field("decision", "Decision", "choice", required=True,
                      choices=[("approve", "Approve"), ("reject", "Reject")]),
                Field("comment", "Comment", "long-text", help="Required when rejecting."),
            ],
        )

    def submit(self, inputs: dict, answers: dict) -> dict:
        decision = answers.get("decision")
        if decision not in ("approve", "reject"):
            raise Invalid({"decision": f"choose approve or reject, not {decision!r}"})
        comment = str(answers.get("comment") or "")
        if decision == "reject" and not comment.strip():
            raise Invalid({"comment": "say why the loan is rejected"})
        return {"approved": decision == "approve", "comment": comment}
