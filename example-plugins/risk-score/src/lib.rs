//! Loan risk score, version 1.
//!
//! Computes the debt-to-income ratio with integer arithmetic. It has a bug
//! kept on purpose for the trap → hot swap → resume demo: an applicant with
//! no income divides by zero, the flow panics, and the step goes to a
//! recoverable Error. `risk-score-fixed` is the corrected version.

use serde::{Deserialize, Serialize};
use stagecraft_sdk::{FlowError, log};

/// What the intake stage knows about the applicant.
#[derive(Deserialize)]
pub struct Application {
    /// Yearly income.
    pub income: u64,
    /// Total outstanding debt.
    pub debt: u64,
    /// Requested loan amount.
    pub amount: u64,
}

/// The score the rest of the orchestration reads.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct RiskScore {
    /// 0 (safe) to 100 (very risky).
    pub risk: u64,
    /// Debt and requested amount as a percentage of income.
    pub debt_to_income_pct: u64,
}

/// Scores an application.
pub fn score(app: Application) -> Result<RiskScore, FlowError> {
    // BUG: no guard against a zero income.
    let ratio = (app.debt + app.amount) * 100 / app.income;
    log::info(&format!("debt-to-income {ratio}%"));
    Ok(RiskScore {
        risk: ratio.min(100),
        debt_to_income_pct: ratio,
    })
}

stagecraft_sdk::autolaunched_flow!(score);
