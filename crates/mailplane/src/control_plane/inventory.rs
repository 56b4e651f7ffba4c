//! A tenant's inventory (`inventory.provide`: the provider provides it, the customer is
//! informed): its offer and region from the catalogue, its subscriptions and the licences
//! assigned from them, its domains with their verification state, its directory totals, and
//! what its mailboxes hold in the mail store.
//!
//! The inventory is a read, so any letter on `inventory.provide` lets a caller see it. It is
//! served as JSON and, for spreadsheets and procurement, as CSV: [`ControlPlane::inventory_csv`]
//! renders it by RFC 4180 and defuses cells a spreadsheet would run as formulas, since
//! tenant names and other fields are user input.

use std::fmt::Write as _;

use mailplane_types::inventory::{DomainState, Inventory, StorageUse};
use mailplane_types::{Result, TenantId};

use super::ControlPlane;
use super::catalogue::offer_of;
use crate::Actor;

/// The header row of the CSV form.
const CSV_HEADER: [&str; 6] = ["section", "name", "state", "count", "bytes", "detail"];

impl ControlPlane {
    /// The inventory of a tenant the actor may see (`inventory.provide`, any letter).
    ///
    /// The parts are read one after another, not in one snapshot: a change that lands
    /// meanwhile may show in one part and not yet in another.
    pub async fn inventory_view(&self, actor: &Actor, tenant: TenantId) -> Result<Inventory> {
        let (t, _decision) = self
            .tenant_for_read(actor, tenant, super::activity::INVENTORY)
            .await?;
        let catalogue = self.catalogue_view();
        let region = t
            .region
            .as_deref()
            .and_then(|r| catalogue.region(r))
            .cloned();
        let offer = offer_of(catalogue, &t).cloned();
        let subscriptions = self.store.subscription_list(t.id).await?;
        let assignments = self.store.inventory_assignments(t.id).await?;
        let domains = self
            .store
            .inventory_domains(t.id)
            .await?
            .into_iter()
            .map(|d| DomainState {
                id: d.id,
                name: d.name,
                default: d.default,
                verified: d.verified,
                verified_at: d.verified_at,
            })
            .collect();
        let mailboxes = self.store.inventory_mailboxes(t.id).await?;
        let (aliases, groups) = self.store.inventory_directory_counts(t.id).await?;
        // What the mailboxes hold, asked of the tenant's region's mail store one mailbox at
        // a time: the figure a bill or a migration plan uses.
        let storage = match &self.data_plane {
            Some(plane) => {
                let mut used = StorageUse::default();
                for mailbox in self.store.mailbox_ids(t.id).await? {
                    let u = plane.usage(t.id, mailbox).await?;
                    used.mailboxes += 1;
                    used.messages += u.messages;
                    used.bytes += u.bytes;
                }
                Some(used)
            }
            None => None,
        };
        Ok(Inventory {
            tenant_id: t.id,
            name: t.name,
            slug: t.slug,
            profile: t.profile,
            profile_version: t.profile_version,
            status: t.status,
            partner_id: t.partner_id,
            region,
            offer,
            subscriptions,
            assignments,
            domains,
            mailboxes,
            aliases,
            groups,
            storage,
            generated_at: self.clock.now(),
        })
    }

    /// Renders an inventory as CSV (RFC 4180, CRLF line ends): a header row
    /// `section,name,state,count,bytes,detail`, then one row for the tenant, its region and
    /// its offer, one per subscription, assignment and domain, four for the mailbox totals
    /// (`all`, `enabled`, `disabled`, `shared`), one each for aliases and groups, and one for
    /// the storage used (`storage,used,,<messages>,<bytes>,mailboxes=<n>`) when it is known.
    ///
    /// A field that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`,
    /// a tab or a carriage return) gets a leading `'`.
    pub fn inventory_csv(inv: &Inventory) -> String {
        let mut out = String::new();
        row(&mut out, CSV_HEADER);
        let at = rfc3339(inv.generated_at);
        let mut tenant = format!(
            "id={};profile={}@{}",
            inv.tenant_id, inv.profile, inv.profile_version
        );
        if let Some(slug) = &inv.slug {
            let _ = write!(tenant, ";slug={slug}");
        }
        if let Some(partner) = &inv.partner_id {
            let _ = write!(tenant, ";partner={partner}");
        }
        let _ = write!(tenant, ";generated_at={at}");
        row(
            &mut out,
            ["tenant", &inv.name, inv.status.as_str(), "", "", &tenant],
        );
        match &inv.region {
            Some(r) => {
                let mut detail = format!("title={};primary={}", r.name, r.primary_site);
                if let Some(replica) = &r.replica_site {
                    let _ = write!(detail, ";replica={replica}");
                }
                row(&mut out, ["region", &r.id, "", "", "", &detail]);
            }
            None => row(&mut out, ["region", "", "none", "", "", ""]),
        }
        match &inv.offer {
            Some(o) => {
                let mut detail =
                    format!("title={};licence_required={}", o.title, o.licence_required);
                if let Some(sku) = &o.sku {
                    let _ = write!(detail, ";sku={sku}");
                }
                let bytes = o.mailbox_quota_bytes.to_string();
                row(&mut out, ["offer", &o.id, "", "", &bytes, &detail]);
            }
            None => row(&mut out, ["offer", "", "none", "", "", ""]),
        }
        for s in &inv.subscriptions {
            let detail = format!(
                "assigned={};free={};minimum={}",
                s.assigned, s.free, s.minimum_seats
            );
            let seats = s.seats.to_string();
            row(&mut out, ["subscription", &s.sku, "", &seats, "", &detail]);
        }
        for a in &inv.assignments {
            let detail = format!(
                "mailbox={};assigned_at={}",
                a.mailbox_id,
                rfc3339(a.assigned_at)
            );
            let address = a.address.to_string();
            row(&mut out, ["assignment", &address, &a.sku, "", "", &detail]);
        }
        for d in &inv.domains {
            let state = if d.verified { "verified" } else { "unverified" };
            let mut detail = String::from(if d.default { "default" } else { "custom" });
            if let Some(v) = d.verified_at {
                let _ = write!(detail, ";verified_at={}", rfc3339(v));
            }
            let name = d.name.to_string();
            row(&mut out, ["domain", &name, state, "", "", &detail]);
        }
        let m = &inv.mailboxes;
        for (name, count, bytes) in [
            ("all", m.total, m.quota_bytes_total),
            ("enabled", m.enabled, m.quota_bytes_enabled),
            ("disabled", m.disabled, m.quota_bytes_disabled),
            ("shared", m.shared, m.quota_bytes_shared),
        ] {
            let (count, bytes) = (count.to_string(), bytes.to_string());
            row(&mut out, ["mailboxes", name, "", &count, &bytes, ""]);
        }
        for (section, count) in [("aliases", inv.aliases), ("groups", inv.groups)] {
            let count = count.to_string();
            row(&mut out, [section, "all", "", &count, "", ""]);
        }
        if let Some(s) = &inv.storage {
            let (messages, bytes) = (s.messages.to_string(), s.bytes.to_string());
            let detail = format!("mailboxes={}", s.mailboxes);
            row(
                &mut out,
                ["storage", "used", "", &messages, &bytes, &detail],
            );
        }
        out
    }
}

/// A time as RFC 3339; a time that cannot be written so (out of its year range) as its
/// debug form, which a reader still understands.
fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("{at:?}"))
}

/// Appends one CSV record and its CRLF.
fn row<const N: usize>(out: &mut String, fields: [&str; N]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, f);
    }
    out.push_str("\r\n");
}

/// Appends one field: defused if a spreadsheet would run it as a formula, then quoted if it
/// holds a comma, a quote, a CR or an LF, with inner quotes doubled.
fn field(out: &mut String, value: &str) {
    let guarded;
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{value}");
        guarded.as_str()
    } else {
        value
    };
    if value.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> String {
        let mut s = String::new();
        field(&mut s, value);
        s
    }

    #[test]
    fn fields_are_quoted_by_rfc_4180() {
        assert_eq!(one("plain"), "plain");
        assert_eq!(one(""), "");
        assert_eq!(one("a,b"), "\"a,b\"");
        assert_eq!(one("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(one("two\nlines"), "\"two\nlines\"");
        assert_eq!(one("cr\rhere"), "\"cr\rhere\"");
    }

    #[test]
    fn formulas_are_defused() {
        assert_eq!(one("=1+1"), "'=1+1");
        assert_eq!(one("+49 30"), "'+49 30");
        assert_eq!(one("-2"), "'-2");
        assert_eq!(one("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(one("\tx"), "'\tx");
        assert_eq!(
            one("=HYPERLINK(\"x\",\"y\")"),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""
        );
        assert_eq!(one("a=b"), "a=b");
    }

    #[test]
    fn records_end_in_crlf() {
        let mut s = String::new();
        row(&mut s, ["a", "b,c", ""]);
        assert_eq!(s, "a,\"b,c\",\r\n");
    }
}
