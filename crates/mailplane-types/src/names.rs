//! Validated names: domains, local parts, e-mail addresses and activity ids.
//!
//! Each type can only be built through its parser, so a value in hand is known to be valid
//! and normalised (domains in lower-case A-label form). Parse errors name the rule broken;
//! callers attach the field name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A DNS domain name, validated per RFC 1035 (labels of 1 to 63 letters, digits and inner
/// hyphens; at most 253 characters) after IDNA (RFC 5890) conversion, stored as lower-case
/// A-labels (`xn--bcher-kva.example`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "example.com"))]
#[serde(transparent)]
pub struct DomainName(String);

impl DomainName {
    /// Validates and normalises a domain name; the error says which rule failed.
    pub fn parse(input: &str) -> Result<DomainName, String> {
        let trimmed = input.strip_suffix('.').unwrap_or(input);
        if trimmed.is_empty() {
            return Err("must not be empty".into());
        }
        if trimmed.chars().any(|c| c.is_whitespace()) {
            return Err("must not contain white space".into());
        }
        for label in trimmed.split('.') {
            if label.is_empty() {
                return Err("must not hold an empty label (two dots in a row)".into());
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err("labels must not start or end with a hyphen (RFC 1035)".into());
            }
        }
        let ascii = idna::domain_to_ascii_strict(trimmed)
            .map_err(|_| "is not a valid internationalised domain name (RFC 5890)".to_string())?;
        if ascii.len() > crate::limits::DOMAIN_NAME_CHARS {
            return Err("must be at most 253 characters in A-label form (RFC 1035)".into());
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err("must have at least two labels, such as `example.com`".into());
        }
        for label in &labels {
            if label.is_empty() || label.len() > 63 {
                return Err("each label must be 1 to 63 characters (RFC 1035)".into());
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err("labels may hold only letters, digits and hyphens (RFC 1035)".into());
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err("labels must not start or end with a hyphen (RFC 1035)".into());
            }
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err("the top-level label must not be all digits".into());
        }
        Ok(DomainName(ascii))
    }

    /// The normalised A-label form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DomainName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DomainName::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The part of an address before the `@`: 1 to 64 characters of the RFC 5322 dot-atom set,
/// no leading, trailing or doubled dot; stored in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "alice"))]
#[serde(transparent)]
pub struct LocalPart(String);

impl LocalPart {
    /// Validates and lower-cases a local part; the error says which rule failed.
    pub fn parse(input: &str) -> Result<LocalPart, String> {
        if input.is_empty() {
            return Err("must not be empty".into());
        }
        if input.len() > crate::limits::LOCAL_PART_CHARS {
            return Err("must be at most 64 characters (RFC 5321)".into());
        }
        const SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~.";
        if !input
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || SPECIALS.contains(&b))
        {
            return Err(
                "may hold only letters, digits and !#$%&'*+-/=?^_`{|}~. (RFC 5322 dot-atom)".into(),
            );
        }
        if input.starts_with('.') || input.ends_with('.') || input.contains("..") {
            return Err("must not start or end with a dot, nor hold two dots in a row".into());
        }
        Ok(LocalPart(input.to_ascii_lowercase()))
    }

    /// The normalised form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LocalPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for LocalPart {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        LocalPart::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A complete address, `local@domain`, both parts validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, format = Email, example = "alice@example.com"))]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Joins a validated local part and domain.
    pub fn new(local: &LocalPart, domain: &DomainName) -> EmailAddress {
        EmailAddress(format!("{local}@{domain}"))
    }

    /// Validates `local@domain`.
    pub fn parse(input: &str) -> Result<EmailAddress, String> {
        let (local, domain) = input
            .rsplit_once('@')
            .ok_or_else(|| "must have the form local@domain".to_string())?;
        let local = LocalPart::parse(local).map_err(|e| format!("local part {e}"))?;
        let domain = DomainName::parse(domain).map_err(|e| format!("domain {e}"))?;
        Ok(EmailAddress::new(&local, &domain))
    }

    /// The normalised form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EmailAddress::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The stable string id of a RACI activity, such as `directory.administer`: lower-case
/// segments of letters, digits and hyphens separated by dots. Persisted and exposed as this
/// string, never as an ordinal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "directory.administer"))]
#[serde(transparent)]
pub struct ActivityId(String);

impl ActivityId {
    /// Validates an activity id.
    pub fn parse(input: &str) -> Result<ActivityId, String> {
        let ok = !input.is_empty()
            && input.split('.').all(|seg| {
                !seg.is_empty()
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        if ok {
            Ok(ActivityId(input.to_string()))
        } else {
            Err(format!(
                "`{input}` is not an activity id: dot-separated lower-case segments of letters, digits and hyphens"
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ActivityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_to_lower_case_a_labels() {
        assert_eq!(
            DomainName::parse("Example.COM.").unwrap().as_str(),
            "example.com"
        );
        assert_eq!(
            DomainName::parse("bücher.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn bad_domains_name_the_rule() {
        assert!(
            DomainName::parse("localhost")
                .unwrap_err()
                .contains("two labels")
        );
        assert!(
            DomainName::parse("-a.example")
                .unwrap_err()
                .contains("hyphen")
        );
        assert!(DomainName::parse("a_b.example").is_err());
        assert!(DomainName::parse(&format!("{}.com", "a".repeat(64))).is_err());
        assert!(
            DomainName::parse("a b.com")
                .unwrap_err()
                .contains("white space")
        );
        assert!(
            DomainName::parse("1.2.3.4")
                .unwrap_err()
                .contains("all digits")
        );
    }

    #[test]
    fn local_parts_follow_dot_atom() {
        assert_eq!(
            LocalPart::parse("Alice.Smith").unwrap().as_str(),
            "alice.smith"
        );
        assert!(LocalPart::parse("a..b").is_err());
        assert!(LocalPart::parse(".a").is_err());
        assert!(LocalPart::parse("a b").is_err());
        assert!(LocalPart::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn activity_ids_are_dotted_lower_case() {
        assert!(ActivityId::parse("directory.administer").is_ok());
        assert!(ActivityId::parse("Directory").is_err());
        assert!(ActivityId::parse("a..b").is_err());
    }
}
