"""Loan risk score, version 1, in Python.

Computes the debt-to-income ratio. Like its Rust twin it has a bug kept on
purpose for the trap -> hot swap -> resume demo: an applicant with no income
divides by zero, the exception traps, and the step goes to a recoverable
Error. `risk-score-fixed` is the corrected version.
"""

from stagecraft_flow import autolaunched, log


@autolaunched
def score(application: dict) -> dict:
    income, debt, amount = application["income"], application["debt"], application["amount"]
    # BUG: no guard against a zero income.
    ratio = (debt + amount) * 100 // income
    log.info(f"debt-to-income {ratio}%")
    return {"risk": min(ratio, 100), "debt_to_income_pct": ratio}
