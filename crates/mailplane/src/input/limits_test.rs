//! The bounds the input schemas announce are the limits the checks use
//! ([`mailplane_types::limits`]): utoipa's attributes take only literals, so this test holds
//! the two together, and fails on a bound announced without a listed limit.

use mailplane_types::limits as l;
use serde_json::Value;
use utoipa::PartialSchema;

use super::*;

/// Every announced upper bound of every input, with the limit its check uses.
fn expected() -> Vec<(&'static str, &'static str, &'static str, u64)> {
    let name = l::NAME_CHARS as u64;
    let note = l::NOTE_CHARS as u64;
    let text = l::TICKET_TEXT_CHARS as u64;
    let local = l::LOCAL_PART_CHARS as u64;
    let seats = u64::from(l::SEATS);
    let quota = l::QUOTA_BYTES as u64;
    let days = u64::from(l::RETENTION_DAYS);
    vec![
        ("PartnerCreate", "name", "maxLength", name),
        ("PartnerUpdate", "name", "maxLength", name),
        ("TenantCreate", "name", "maxLength", name),
        ("TenantCreate", "slug", "maxLength", l::SLUG_CHARS as u64),
        ("SeatsChange", "seats", "maximum", seats),
        ("SeatsChange", "add", "maximum", seats),
        ("SeatsChange", "remove", "maximum", seats),
        ("TenantUpdate", "name", "maxLength", name),
        (
            "DomainCreate",
            "name",
            "maxLength",
            l::DOMAIN_NAME_CHARS as u64,
        ),
        ("MailboxCreate", "local_part", "maxLength", local),
        ("MailboxCreate", "display_name", "maxLength", name),
        ("MailboxCreate", "quota_bytes", "maximum", quota),
        ("AliasCreate", "local_part", "maxLength", local),
        ("GroupCreate", "local_part", "maxLength", local),
        ("GroupCreate", "display_name", "maxLength", name),
        (
            "PasswordSet",
            "password",
            "maxLength",
            l::PASSWORD_CHARS as u64,
        ),
        ("MailboxUpdate", "display_name", "maxLength", name),
        ("MailboxUpdate", "quota_bytes", "maximum", quota),
        ("RequestCreate", "note", "maxLength", note),
        ("RequestResolution", "reason", "maxLength", note),
        ("CredentialCreate", "name", "maxLength", name),
        (
            "CredentialCreate",
            "roles",
            "maxItems",
            l::CREDENTIAL_ROLES as u64,
        ),
        ("WebhookCreate", "url", "maxLength", l::URL_CHARS as u64),
        (
            "WebhookCreate",
            "secret",
            "maxLength",
            l::WEBHOOK_SECRET_MAX_BYTES as u64,
        ),
        ("TicketCreate", "title", "maxLength", name),
        ("TicketCreate", "description", "maxLength", text),
        ("TicketComment", "comment", "maxLength", text),
        ("TicketHandle", "comment", "maxLength", text),
        ("RetentionSet", "delete_after_days", "maximum", days),
        ("RetentionSet", "keep_at_least_days", "maximum", days),
        ("HoldPlace", "reason", "maxLength", note),
        ("HoldRelease", "reason", "maxLength", note),
        (
            "TerminationCreate",
            "export_window_days",
            "maximum",
            u64::from(l::EXPORT_WINDOW_DAYS),
        ),
    ]
}

/// Every input schema of this module, by name.
fn schemas() -> Vec<(&'static str, Value)> {
    fn json<T: PartialSchema>() -> Value {
        serde_json::to_value(T::schema()).expect("a schema serialises")
    }
    vec![
        ("PartnerCreate", json::<PartnerCreate>()),
        ("PartnerUpdate", json::<PartnerUpdate>()),
        ("TenantCreate", json::<TenantCreate>()),
        ("OfferChoose", json::<OfferChoose>()),
        ("TenantRelocate", json::<TenantRelocate>()),
        ("SubscriptionCreate", json::<SubscriptionCreate>()),
        ("SeatsChange", json::<SeatsChange>()),
        ("LicenceAssign", json::<LicenceAssign>()),
        ("TenantUpdate", json::<TenantUpdate>()),
        ("DomainCreate", json::<DomainCreate>()),
        ("MailboxCreate", json::<MailboxCreate>()),
        ("AliasCreate", json::<AliasCreate>()),
        ("GroupCreate", json::<GroupCreate>()),
        ("GroupMemberRef", json::<GroupMemberRef>()),
        ("Forwarding", json::<Forwarding>()),
        ("PasswordSet", json::<PasswordSet>()),
        ("MailboxUpdate", json::<MailboxUpdate>()),
        ("RequestCreate", json::<RequestCreate>()),
        ("RequestResolution", json::<RequestResolution>()),
        ("CredentialCreate", json::<CredentialCreate>()),
        ("WebhookCreate", json::<WebhookCreate>()),
        ("TicketCreate", json::<TicketCreate>()),
        ("TicketComment", json::<TicketComment>()),
        ("TicketHandle", json::<TicketHandle>()),
        ("TenantRebind", json::<TenantRebind>()),
        ("RetentionSet", json::<RetentionSet>()),
        ("HoldPlace", json::<HoldPlace>()),
        ("HoldRelease", json::<HoldRelease>()),
        ("ExportCreate", json::<ExportCreate>()),
        ("TerminationCreate", json::<TerminationCreate>()),
    ]
}

/// The upper bounds a property announces, looking through `oneOf`/`allOf` wrappers
/// (an optional field's schema).
fn bounds(property: &Value, out: &mut Vec<(&'static str, u64)>) {
    for key in ["maxLength", "maximum", "maxItems"] {
        if let Some(v) = property.get(key).and_then(Value::as_u64) {
            out.push((key, v));
        }
    }
    for wrapper in ["oneOf", "allOf", "anyOf"] {
        for inner in property
            .get(wrapper)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            bounds(inner, out);
        }
    }
}

#[test]
fn every_announced_bound_is_the_limit_the_check_uses() {
    let expected = expected();
    let mut seen = Vec::new();
    for (schema, value) in schemas() {
        let properties = value["properties"].as_object().cloned().unwrap_or_default();
        for (field, property) in properties {
            let mut found = Vec::new();
            bounds(&property, &mut found);
            for (key, announced) in found {
                let entry = expected
                    .iter()
                    .find(|(s, f, k, _)| *s == schema && *f == field && *k == key)
                    .unwrap_or_else(|| {
                        panic!("{schema}.{field} announces {key} {announced}, which no limit of mailplane_types::limits is listed for here")
                    });
                assert_eq!(
                    announced, entry.3,
                    "{schema}.{field}: the schema announces {key} {announced}, the check uses {}",
                    entry.3
                );
                seen.push((schema, field.clone(), key));
            }
        }
    }
    for (schema, field, key, _) in &expected {
        assert!(
            seen.iter()
                .any(|(s, f, k)| s == schema && f == field && k == key),
            "{schema}.{field} no longer announces {key}: remove it from this table"
        );
    }
}
