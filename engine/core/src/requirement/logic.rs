//! Custom requirement logic: a small recursive-descent parser over condition numbers.
//!
//! Grammar (keywords case-insensitive, `NOT` binds tighter than `AND`, `AND` than `OR`):
//! `or := and (OR and)*`, `and := not (AND not)*`, `not := NOT not | atom`,
//! `atom := <number> | ( or )`.

use serde::{Deserialize, Serialize};

/// Deepest nesting of parentheses and `NOT` accepted, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

/// A parsed logic expression; condition indices are 0-based.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogicExpr {
    /// The condition at this 0-based index holds.
    Condition(usize),
    /// Every operand holds.
    And(Vec<LogicExpr>),
    /// Some operand holds.
    Or(Vec<LogicExpr>),
    /// The operand does not hold.
    Not(Box<LogicExpr>),
}

impl LogicExpr {
    /// Evaluates the expression given each condition's truth.
    pub fn holds(&self, conditions: &[bool]) -> bool {
        match self {
            Self::Condition(index) => conditions.get(*index).copied().unwrap_or(false),
            Self::And(operands) => operands.iter().all(|e| e.holds(conditions)),
            Self::Or(operands) => operands.iter().any(|e| e.holds(conditions)),
            Self::Not(operand) => !operand.holds(conditions),
        }
    }
}

/// Why a custom logic expression does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("custom logic `{text}`, at column {column}: {message}")]
pub struct LogicError {
    /// The expression.
    pub text: String,
    /// 1-based character column of the problem.
    pub column: usize,
    /// What is wrong and what to write instead.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Number(u64),
    And,
    Or,
    Not,
    Open,
    Close,
    End,
}

/// Parses `text`, accepting condition numbers `1..=conditions`.
pub fn parse_logic(text: &str, conditions: usize) -> Result<LogicExpr, LogicError> {
    let mut parser = Parser {
        text,
        tokens: tokenize(text)?,
        at: 0,
        conditions,
    };
    let expr = parser.or(0)?;
    match parser.peek() {
        (Token::End, _) => Ok(expr),
        (_, column) => Err(parser.error(column, "expected AND, OR or the end of the expression")),
    }
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, LogicError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' || c == ')' {
            tokens.push((if c == '(' { Token::Open } else { Token::Close }, column));
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while chars.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
            let digits: String = chars.get(start..i).unwrap_or_default().iter().collect();
            // Too many digits saturate to a number that is then reported out of range.
            tokens.push((Token::Number(digits.parse().unwrap_or(u64::MAX)), column));
        } else if c.is_alphabetic() {
            let start = i;
            while chars.get(i).is_some_and(|c| c.is_alphanumeric()) {
                i += 1;
            }
            let word: String = chars.get(start..i).unwrap_or_default().iter().collect();
            let token = match word.to_ascii_uppercase().as_str() {
                "AND" => Token::And,
                "OR" => Token::Or,
                "NOT" => Token::Not,
                _ => {
                    return Err(LogicError {
                        text: text.to_owned(),
                        column,
                        message: format!("unknown word `{word}`; use AND, OR, NOT"),
                    });
                }
            };
            tokens.push((token, column));
        } else {
            return Err(LogicError {
                text: text.to_owned(),
                column,
                message: format!("unexpected character `{c}`"),
            });
        }
    }
    tokens.push((Token::End, chars.len() + 1));
    Ok(tokens)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<(Token, usize)>,
    at: usize,
    conditions: usize,
}

impl Parser<'_> {
    fn peek(&self) -> (Token, usize) {
        self.tokens
            .get(self.at)
            .cloned()
            .unwrap_or((Token::End, self.text.chars().count() + 1))
    }

    fn bump(&mut self) -> (Token, usize) {
        let token = self.peek();
        self.at += 1;
        token
    }

    fn error(&self, column: usize, message: impl Into<String>) -> LogicError {
        LogicError {
            text: self.text.to_owned(),
            column,
            message: message.into(),
        }
    }

    fn or(&mut self, depth: usize) -> Result<LogicExpr, LogicError> {
        let mut operands = vec![self.and(depth)?];
        while self.peek().0 == Token::Or {
            self.bump();
            operands.push(self.and(depth)?);
        }
        Ok(collapse(operands, LogicExpr::Or))
    }

    fn and(&mut self, depth: usize) -> Result<LogicExpr, LogicError> {
        let mut operands = vec![self.not(depth)?];
        while self.peek().0 == Token::And {
            self.bump();
            operands.push(self.not(depth)?);
        }
        Ok(collapse(operands, LogicExpr::And))
    }

    fn not(&mut self, depth: usize) -> Result<LogicExpr, LogicError> {
        let (token, column) = self.bump();
        if depth > MAX_DEPTH {
            return Err(self.error(column, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        match token {
            Token::Not => Ok(LogicExpr::Not(Box::new(self.not(depth + 1)?))),
            Token::Open => {
                let inner = self.or(depth + 1)?;
                match self.bump() {
                    (Token::Close, _) => Ok(inner),
                    (_, column) => Err(self.error(column, "expected `)`")),
                }
            }
            Token::Number(n) => match usize::try_from(n) {
                Ok(n) if (1..=self.conditions).contains(&n) => Ok(LogicExpr::Condition(n - 1)),
                _ => Err(self.error(
                    column,
                    format!(
                        "condition {n} does not exist; number conditions 1 to {}",
                        self.conditions
                    ),
                )),
            },
            Token::End => Err(self.error(column, "expression ends too early")),
            Token::And | Token::Or | Token::Close => {
                Err(self.error(column, "expected a condition number, NOT or `(`"))
            }
        }
    }
}

fn collapse(mut operands: Vec<LogicExpr>, build: fn(Vec<LogicExpr>) -> LogicExpr) -> LogicExpr {
    if operands.len() == 1
        && let Some(single) = operands.pop()
    {
        return single;
    }
    build(operands)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_not_and_or() {
        let expr = parse_logic("1 and (2 OR not 3) or 4", 4).unwrap();
        assert_eq!(
            expr,
            LogicExpr::Or(vec![
                LogicExpr::And(vec![
                    LogicExpr::Condition(0),
                    LogicExpr::Or(vec![
                        LogicExpr::Condition(1),
                        LogicExpr::Not(Box::new(LogicExpr::Condition(2))),
                    ]),
                ]),
                LogicExpr::Condition(3),
            ])
        );
        assert!(expr.holds(&[true, false, false, false]));
        assert!(!expr.holds(&[true, false, true, false]));
        assert!(expr.holds(&[false, false, true, true]));
    }

    #[test]
    fn errors_name_the_column() {
        let cases = [
            ("1 AND", 6, "ends too early"),
            ("1 XOR 2", 3, "unknown word"),
            ("(1 OR 2", 8, "expected `)`"),
            ("1 2", 3, "expected AND"),
            ("1 AND 4", 7, "condition 4 does not exist"),
            ("0", 1, "condition 0 does not exist"),
            ("99999999999999999999999", 1, "does not exist"),
            ("1 & 2", 3, "unexpected character"),
            ("", 1, "ends too early"),
        ];
        for (text, column, message) in cases {
            let error = parse_logic(text, 3).unwrap_err();
            assert_eq!(error.column, column, "{text}: {error}");
            assert!(error.message.contains(message), "{text}: {error}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let text = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let error = parse_logic(&text, 1).unwrap_err();
        assert!(error.message.contains("nested deeper"));
        let nots = format!("{}1", "NOT ".repeat(10_000));
        assert!(parse_logic(&nots, 1).is_err());
    }
}
