//! Timestamps as text with a fixed nine fraction digits
//! (`2026-11-29T22:13:52.748000000Z`), so that they sort as strings the
//! way they sort as instants: in logs, spreadsheets and the API alike.
//! Reading accepts any RFC 3339 form.

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serializer};

/// `#[serde(with = "crate::time::fixed")]` for a [`Timestamp`].
pub mod fixed {
    use super::*;

    /// Writes `at` with nine fraction digits.
    pub fn serialize<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{at:.9}"))
    }

    /// Reads any RFC 3339 timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        Timestamp::deserialize(deserializer)
    }
}

/// `#[serde(with = "crate::time::fixed_option")]` for an
/// `Option<Timestamp>`.
pub mod fixed_option {
    use super::*;

    /// Writes `at`, if any, with nine fraction digits.
    pub fn serialize<S: Serializer>(
        at: &Option<Timestamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.collect_str(&format_args!("{at:.9}")),
            None => serializer.serialize_none(),
        }
    }

    /// Reads any RFC 3339 timestamp, or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        Option::<Timestamp>::deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct At {
        #[serde(with = "fixed")]
        at: Timestamp,
        #[serde(with = "fixed_option", default)]
        maybe: Option<Timestamp>,
    }

    #[test]
    fn timestamps_have_nine_fraction_digits_and_sort_as_text() {
        let early: Timestamp = "2026-11-29T22:13:58.748Z".parse().expect("timestamp");
        let late: Timestamp = "2026-11-29T22:13:58.748729044Z".parse().expect("timestamp");
        let text = |at| {
            serde_json::to_string(&At {
                at,
                maybe: Some(at),
            })
            .expect("json")
        };
        assert_eq!(
            text(early),
            r#"{"at":"2026-11-29T22:13:58.748000000Z","maybe":"2026-11-29T22:13:58.748000000Z"}"#
        );
        assert!(text(early) < text(late));
        let whole: Timestamp = "2026-11-29T22:13:58Z".parse().expect("timestamp");
        assert!(text(whole).contains("58.000000000Z"));
        let back: At = serde_json::from_str(r#"{"at":"2026-11-29T22:13:58.748Z"}"#).expect("read");
        assert_eq!(
            back,
            At {
                at: early,
                maybe: None
            }
        );
    }
}
