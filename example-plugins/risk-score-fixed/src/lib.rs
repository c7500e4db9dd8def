//! Loan risk score, version 2: the fix for `risk-score`.
//!
//! An applicant with no income is the riskiest possible case, not a crash.

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
    let owed = app.debt.saturating_add(app.amount);
    let Some(ratio) = owed.saturating_mul(100).checked_div(app.income) else {
        log::warn("no income: maximum risk");
        return Ok(RiskScore {
            risk: 100,
            debt_to_income_pct: u64::MAX,
        });
    };
    println!("scored an application: debt-to-income {ratio}%");
    Ok(RiskScore {
        risk: ratio.min(100),
        debt_to_income_pct: ratio,
    })
}

stagecraft_sdk::autolaunched_flow!(score);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_income_is_maximum_risk() {
        let app = Application {
            income: 0,
            debt: 10,
            amount: 10,
        };
        assert_eq!(score(app).unwrap().risk, 100);
    }

    #[test]
    fn ratio_is_capped_at_one_hundred() {
        let app = Application {
            income: 100,
            debt: 50,
            amount: 20,
        };
        assert_eq!(
            score(app).unwrap(),
            RiskScore {
                risk: 70,
                debt_to_income_pct: 70
            }
        );
    }
}
