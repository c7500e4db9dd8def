"""{{name}}: an autolaunched flow, the work of a background step.

Inputs arrive as a dict (the step's inputs); the returned dict is the step's
outputs. Raise FlowError for a failure on purpose.
"""

from stagecraft_flow import FlowError, autolaunched, log


@autolaunched
def run(inputs: dict) -> dict:
    name = inputs.get("name", "world")
    if not isinstance(name, str):
        raise FlowError("invalid-input", "name must be text")
    log.info("greeting", name=name)
    return {"greeting": f"Hello, {name}!"}
