//! Text as PostgreSQL can store it. A `TEXT` value cannot hold NUL
//! (U+0000), and one value that does fails its whole statement — in a group
//! commit, every caller's commit with it. The API refuses NUL at its edge;
//! what still reaches the store from inside (a flow's outputs resolved into
//! an assignee, a refusal's reason quoting them) is stored with each NUL
//! replaced by U+FFFD, the replacement character. Run states are bytes and
//! JSON columns escape NUL, so what is read back as a record is unchanged:
//! only the columns that index and filter see the replacement.

use std::borrow::Cow;

/// `value`, storable in a `TEXT` column.
pub(crate) fn text(value: &str) -> Cow<'_, str> {
    if value.contains('\0') {
        Cow::Owned(value.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn nul_is_replaced_and_other_text_borrowed() {
        assert_eq!(text("a\0b\0"), "a\u{FFFD}b\u{FFFD}");
        assert!(matches!(text("plain"), std::borrow::Cow::Borrowed("plain")));
    }
}
