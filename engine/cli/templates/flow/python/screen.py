"""{{name}}: a screen flow, the form behind an interactive step's work item.

`render` describes the form for the step's inputs; `submit` checks the
assignee's answers and returns the step's outputs, or raises Invalid and the
work item stays open for a correction.
"""

from stagecraft_flow import Field, Form, Invalid, screen


@screen
class Approval:
    def render(self, inputs: dict) -> Form:
        return Form(
            f"Approve {inputs.get('subject', 'the request')}?",
            [
                Field("decision", "Decision", "choice", required=True,
                      choices=[("approve", "Approve"), ("reject", "Reject")]),
                Field("comment", "Comment", "long-text", help="Required when rejecting."),
            ],
        )

    def submit(self, inputs: dict, answers: dict) -> dict:
        decision = answers.get("decision")
        if decision not in ("approve", "reject"):
            raise Invalid({"decision": "choose approve or reject"})
        comment = str(answers.get("comment") or "")
        if decision == "reject" and not comment.strip():
            raise Invalid({"comment": "say why"})
        return {"approved": decision == "approve", "comment": comment}
