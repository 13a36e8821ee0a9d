//! Secrets (passwords, stream keys, API keys) are write-only: accepted on create/update,
//! shown masked, never logged. A client that reads settings, changes one field and writes
//! them back sends the masked text; that keeps the stored secret.

/// The mask prefix; a value starting with it is a masked secret, not a new one.
pub(crate) const MASK: &str = "••••";

/// `••••` plus the last four characters for long secrets (enough to tell keys apart), only
/// `••••` for short ones (where four characters would give too much away).
pub(crate) fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() >= 12 {
        format!(
            "{MASK}{}",
            chars[chars.len() - 4..].iter().collect::<String>()
        )
    } else {
        MASK.to_string()
    }
}

pub(crate) fn is_masked(value: &str) -> bool {
    value.starts_with(MASK)
}

/// The secret to store: the new value, or the old one when the client sent the mask back.
pub(crate) fn keep_or_replace(new: Option<String>, old: Option<&str>) -> Option<String> {
    match new {
        Some(v) if is_masked(&v) => old.map(str::to_string),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_secrets_show_their_tail_short_ones_nothing() {
        assert_eq!(mask("live_123456789abcd"), "••••abcd");
        assert_eq!(mask("hunter2"), "••••");
        assert!(is_masked(&mask("anything")));
    }

    #[test]
    fn a_masked_value_sent_back_keeps_the_stored_secret() {
        assert_eq!(
            keep_or_replace(Some("••••abcd".into()), Some("old-secret-abcd")).as_deref(),
            Some("old-secret-abcd")
        );
        assert_eq!(
            keep_or_replace(Some("new".into()), Some("old")).as_deref(),
            Some("new")
        );
        assert_eq!(keep_or_replace(None, Some("old")), None);
    }
}
