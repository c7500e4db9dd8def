"""{{name}}: an evaluation flow, a condition (a stage's exit, a step's entry).

Returns True when the condition is met.
"""

from stagecraft_flow import FlowError, evaluation


@evaluation
def met(inputs: dict) -> bool:
    score, threshold = inputs.get("score", 0), inputs.get("threshold", 50)
    if not all(isinstance(v, (int, float)) for v in (score, threshold)):
        raise FlowError("invalid-input", "score and threshold must be numbers")
    return score >= threshold
