//! Mailbox passwords: checking a new one against a policy, hashing it, verifying it,
//! refusing reuse, and telling when it must be changed.
//!
//! This module exists so that every path that sets or checks a password does so the same
//! way: Argon2id with the argon2 crate's defaults (m=19456 KiB, t=2, p=1, OWASP's minimum)
//! and a fresh random salt, stored as a PHC string. A password only ever passes through
//! here as a borrowed `&str`: nothing in this module stores it, formats it, logs it or puts
//! it in an error.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use mailplane_types::passwords::{PasswordPolicy, PasswordStatus};
use mailplane_types::{Error, Result};
use rand::rngs::OsRng;
use time::{Duration, OffsetDateTime};

/// The longest password accepted, in characters, whatever the policy: long enough for any
/// passphrase, short enough that hashing it costs nothing extra.
pub const MAX_LENGTH: usize = mailplane_types::limits::PASSWORD_CHARS;

/// Every rule `password` breaks under `policy`, each as a sentence fragment naming the rule
/// (`must contain a digit`); empty when the password is acceptable.
///
/// Lengths count characters (Unicode scalar values), not bytes. A symbol is any character
/// that is neither a letter, nor a digit, nor a control character, so a space counts.
/// Control characters are never allowed.
pub fn check(policy: &PasswordPolicy, password: &str) -> Vec<String> {
    let mut broken = Vec::new();
    let length = password.chars().count();
    let min_length = usize::try_from(policy.min_length).unwrap_or(usize::MAX);
    if length < min_length {
        broken.push(format!("must be at least {min_length} characters"));
    } else if length == 0 {
        // A policy that was never validated may ask for no length at all; an empty password
        // is refused all the same.
        broken.push("must not be empty".to_owned());
    }
    if length > MAX_LENGTH {
        broken.push(format!("must be at most {MAX_LENGTH} characters"));
    }
    if policy.require_lowercase && !password.chars().any(char::is_lowercase) {
        broken.push("must contain a lower-case letter".to_owned());
    }
    if policy.require_uppercase && !password.chars().any(char::is_uppercase) {
        broken.push("must contain an upper-case letter".to_owned());
    }
    if policy.require_digit && !password.chars().any(char::is_numeric) {
        broken.push("must contain a digit".to_owned());
    }
    if policy.require_symbol && !password.chars().any(is_symbol) {
        broken.push(
            "must contain a symbol (a character that is neither a letter nor a digit)".to_owned(),
        );
    }
    if password.chars().any(char::is_control) {
        broken.push("must not contain control characters".to_owned());
    }
    broken
}

/// Hashes `password` with Argon2id and a fresh random salt, and returns the PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) to store.
///
/// Fails only if the hasher does, with an internal error that never contains the password.
pub fn hash(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|phc| phc.to_string())
        .map_err(|e| Error::internal(format!("hashing a password with Argon2id failed: {e}")))
}

/// Whether `password` is the one `phc` was made from; false when `phc` is not a PHC string
/// the argon2 crate can read.
pub fn verify(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Whether `password` matches any of the PHC hashes in `history`: the caller passes the last
/// `history_depth` hashes, the current one included. Malformed entries never match.
///
/// Each entry costs one Argon2 computation, so the history should stay as short as the
/// policy allows.
pub fn reused(history: &[String], password: &str) -> bool {
    history.iter().any(|phc| verify(phc, password))
}

/// A tenant's stored password policy (JSON), or the default one when none was set.
pub fn parse_policy(stored: Option<String>) -> Result<PasswordPolicy> {
    match stored {
        None => Ok(PasswordPolicy::default()),
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| Error::internal(format!("a stored password policy does not parse: {e}"))),
    }
}

/// The status of a password set at `set_at`, as of `now`: it must be changed `max_age_days`
/// days after it was set, and is due from that moment on. Without a maximum age it is never
/// due. A deadline beyond the last date `time` can represent counts as none.
pub fn status(
    policy: &PasswordPolicy,
    set_at: OffsetDateTime,
    now: OffsetDateTime,
) -> PasswordStatus {
    let rotation_due_at = policy
        .max_age_days
        .and_then(|days| set_at.checked_add(Duration::days(i64::from(days))));
    PasswordStatus {
        set_at,
        rotation_due_at,
        rotation_due: rotation_due_at.is_some_and(|due| now >= due),
    }
}

/// Whether `c` counts as a symbol: neither a letter, nor a digit, nor a control character.
fn is_symbol(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_control()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    /// A policy that requires every character class, 12 characters long.
    fn strict() -> PasswordPolicy {
        PasswordPolicy {
            require_symbol: true,
            ..PasswordPolicy::default()
        }
    }

    #[test]
    fn a_password_that_follows_every_rule_is_accepted() {
        assert!(check(&strict(), "Correct horse 9").is_empty());
        assert!(check(&PasswordPolicy::default(), "Correcthorse9").is_empty());
    }

    #[test]
    fn a_short_password_is_refused_and_length_counts_characters() {
        let policy = PasswordPolicy {
            min_length: 12,
            require_lowercase: false,
            require_uppercase: false,
            require_digit: false,
            require_symbol: false,
            ..PasswordPolicy::default()
        };
        assert_eq!(
            check(&policy, "elevenchars"),
            ["must be at least 12 characters"]
        );
        assert!(check(&policy, "twelve chars").is_empty());
        // Six two-byte characters are twelve bytes but only six characters.
        assert_eq!(check(&policy, "éééééé"), ["must be at least 12 characters"]);
        assert!(check(&policy, "éééééééééééé").is_empty());
    }

    #[test]
    fn a_long_password_is_refused() {
        let policy = PasswordPolicy::default();
        let longest = format!("Aa1{}", "x".repeat(MAX_LENGTH - 3));
        assert!(check(&policy, &longest).is_empty());
        let too_long = format!("{longest}x");
        assert_eq!(
            check(&policy, &too_long),
            ["must be at most 256 characters"]
        );
    }

    #[test]
    fn each_missing_class_is_named() {
        let policy = strict();
        assert_eq!(
            check(&policy, "CORRECT HORSE 9"),
            ["must contain a lower-case letter"]
        );
        assert_eq!(
            check(&policy, "correct horse 9"),
            ["must contain an upper-case letter"]
        );
        assert_eq!(check(&policy, "Correct horse!"), ["must contain a digit"]);
        assert_eq!(
            check(&policy, "Correcthorse9x"),
            ["must contain a symbol (a character that is neither a letter nor a digit)"]
        );
    }

    #[test]
    fn classes_not_required_are_not_checked() {
        let policy = PasswordPolicy {
            require_lowercase: false,
            require_uppercase: false,
            require_digit: false,
            require_symbol: false,
            ..PasswordPolicy::default()
        };
        assert!(check(&policy, "ALLUPPERCASE").is_empty());
        assert!(check(&policy, "alllowercase").is_empty());
        assert!(check(&policy, "123456789012").is_empty());
    }

    #[test]
    fn control_characters_are_refused_and_do_not_count_as_symbols() {
        let policy = strict();
        assert_eq!(
            check(&policy, "Correct\thorse9"),
            [
                "must contain a symbol (a character that is neither a letter nor a digit)",
                "must not contain control characters",
            ]
        );
        assert_eq!(
            check(&policy, "Correct horse9\n"),
            ["must not contain control characters"]
        );
    }

    #[test]
    fn every_broken_rule_is_reported() {
        let broken = check(&strict(), "");
        assert_eq!(
            broken,
            [
                "must be at least 12 characters",
                "must contain a lower-case letter",
                "must contain an upper-case letter",
                "must contain a digit",
                "must contain a symbol (a character that is neither a letter nor a digit)",
            ]
        );
    }

    #[test]
    fn an_empty_password_is_refused_even_without_a_minimum_length() {
        let policy = PasswordPolicy {
            min_length: 0,
            require_lowercase: false,
            require_uppercase: false,
            require_digit: false,
            require_symbol: false,
            ..PasswordPolicy::default()
        };
        assert_eq!(check(&policy, ""), ["must not be empty"]);
    }

    #[test]
    fn hashes_are_salted_argon2id_and_verify_only_the_right_password() {
        let first = hash("Correct horse 9").expect("hashing succeeds");
        let second = hash("Correct horse 9").expect("hashing succeeds");
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second, "each hash has its own salt");
        assert!(!first.contains("Correct horse 9"));
        assert!(verify(&first, "Correct horse 9"));
        assert!(verify(&second, "Correct horse 9"));
        assert!(!verify(&first, "Correct horse 8"));
        assert!(!verify(&first, ""));

        // A reuse anywhere in the history is found; a new password, or a malformed entry, is
        // not a reuse.
        let history = vec!["not a phc string".to_owned(), first];
        assert!(reused(&history, "Correct horse 9"));
        assert!(!reused(&history, "Battery staple 7"));
        assert!(!reused(&[], "Correct horse 9"));
    }

    #[test]
    fn a_malformed_hash_verifies_nothing() {
        assert!(!verify("", ""));
        assert!(!verify("$argon2id$v=19$garbage", "anything"));
        assert!(!verify("plain text password", "plain text password"));
    }

    #[test]
    fn status_without_a_maximum_age_is_never_due() {
        let policy = PasswordPolicy {
            max_age_days: None,
            ..PasswordPolicy::default()
        };
        let set_at = datetime!(2025-01-01 00:00 UTC);
        let status = status(&policy, set_at, datetime!(2125-01-01 00:00 UTC));
        assert_eq!(status.set_at, set_at);
        assert_eq!(status.rotation_due_at, None);
        assert!(!status.rotation_due);
    }

    #[test]
    fn status_with_a_maximum_age_is_due_from_the_deadline_on() {
        let policy = PasswordPolicy {
            max_age_days: Some(90),
            ..PasswordPolicy::default()
        };
        let set_at = datetime!(2025-01-01 12:00 UTC);
        let deadline = datetime!(2025-04-01 12:00 UTC);

        let before = status(&policy, set_at, deadline - Duration::seconds(1));
        assert_eq!(before.rotation_due_at, Some(deadline));
        assert!(!before.rotation_due);

        let at = status(&policy, set_at, deadline);
        assert_eq!(at.rotation_due_at, Some(deadline));
        assert!(at.rotation_due);

        let after = status(&policy, set_at, deadline + Duration::days(30));
        assert!(after.rotation_due);
    }

    #[test]
    fn a_deadline_beyond_the_calendar_counts_as_none() {
        let policy = PasswordPolicy {
            max_age_days: Some(3650),
            ..PasswordPolicy::default()
        };
        let set_at = datetime!(9999-06-01 00:00 UTC);
        let status = status(&policy, set_at, set_at);
        assert_eq!(status.rotation_due_at, None);
        assert!(!status.rotation_due);
    }
}
