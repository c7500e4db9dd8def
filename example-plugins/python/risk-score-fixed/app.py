"""Loan risk score, version 2, in Python: the fix for version 1.

An applicant with no income is the highest risk instead of a division by
zero; everything else is scored as before.
"""

from stagecraft_flow import FlowError, autolaunched, log


@autolaunched
def score(application: dict) -> dict:
    try:
        income, debt, amount = (int(application[k]) for k in ("income", "debt", "amount"))
    except (KeyError, TypeError, ValueError) as e:
        raise FlowError("invalid-input", f"income, debt and amount must be integers: {e}")
    if income <= 0:
        log.warn("no income: highest risk")
        # Unbounded, as in the Rust fix: the largest unsigned 64-bit integer.
        return {"risk": 100, "debt_to_income_pct": 2**64 - 1}
    ratio = (debt + amount) * 100 // income
    log.info(f"debt-to-income {ratio}%")
    return {"risk": min(ratio, 100), "debt_to_income_pct": ratio}
