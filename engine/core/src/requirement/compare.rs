//! What each condition operator means on JSON values.

use std::cmp::Ordering;

use serde_json::Value;

use crate::definition::Operator;

/// Whether `left operator right` holds; an unavailable side compares like `null`.
pub(super) fn holds(operator: Operator, left: Option<&Value>, right: Option<&Value>) -> bool {
    let left = left.unwrap_or(&Value::Null);
    match operator {
        Operator::IsNull => left.is_null() == right.and_then(Value::as_bool).unwrap_or(true),
        Operator::Equals => equal(left, right.unwrap_or(&Value::Null)),
        Operator::NotEquals => !equal(left, right.unwrap_or(&Value::Null)),
        Operator::GreaterThan => order(left, right) == Some(Ordering::Greater),
        Operator::GreaterOrEqual => matches!(
            order(left, right),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        Operator::LessThan => order(left, right) == Some(Ordering::Less),
        Operator::LessOrEqual => {
            matches!(order(left, right), Some(Ordering::Less | Ordering::Equal))
        }
        Operator::Contains => match (left, right) {
            (Value::String(text), Some(Value::String(part))) => text.contains(part.as_str()),
            (Value::Array(items), Some(item)) => items.iter().any(|i| equal(i, item)),
            _ => false,
        },
        Operator::StartsWith => match (left, right) {
            (Value::String(text), Some(Value::String(prefix))) => text.starts_with(prefix.as_str()),
            _ => false,
        },
    }
}

fn equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => left == right,
    }
}

fn order(left: &Value, right: Option<&Value>) -> Option<Ordering> {
    match (left, right?) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_operator() {
        let cases = [
            (Operator::Equals, json!(1), Some(json!(1.0)), true),
            (Operator::Equals, json!("a"), Some(json!("b")), false),
            (Operator::NotEquals, json!("a"), Some(json!("b")), true),
            (Operator::GreaterThan, json!(5), Some(json!(3)), true),
            (Operator::GreaterThan, json!("5"), Some(json!(3)), false),
            (Operator::GreaterOrEqual, json!(3), Some(json!(3)), true),
            (
                Operator::LessThan,
                json!("apple"),
                Some(json!("banana")),
                true,
            ),
            (Operator::LessOrEqual, json!(4), Some(json!(3)), false),
            (Operator::Contains, json!("hello"), Some(json!("ell")), true),
            (Operator::Contains, json!(["a", 2]), Some(json!(2)), true),
            (Operator::Contains, json!(7), Some(json!(7)), false),
            (
                Operator::StartsWith,
                json!("hello"),
                Some(json!("he")),
                true,
            ),
            (
                Operator::StartsWith,
                json!("hello"),
                Some(json!("lo")),
                false,
            ),
            (Operator::IsNull, json!(null), None, true),
            (Operator::IsNull, json!(1), None, false),
            (Operator::IsNull, json!(1), Some(json!(false)), true),
        ];
        for (operator, left, right, expected) in cases {
            assert_eq!(
                holds(operator, Some(&left), right.as_ref()),
                expected,
                "{left} {operator:?} {right:?}"
            );
        }
    }

    #[test]
    fn unavailable_resource_compares_like_null() {
        assert!(holds(Operator::IsNull, None, None));
        assert!(holds(Operator::Equals, None, Some(&Value::Null)));
        assert!(!holds(Operator::Equals, None, Some(&json!(0))));
        assert!(!holds(Operator::GreaterThan, None, Some(&json!(0))));
    }
}
