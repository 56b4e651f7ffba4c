//! What a tenant takes from the provider's catalogue: its placement in a region, its offer,
//! its licence subscriptions and the seats its mailboxes hold.
//!
//! Each change is an [`Operation`](super::Operation) routed by the matrix like any other:
//! choosing an offer is `service.sizing.choose` (customer RA in the reference matrix),
//! relocating is `service.location.choose` (provider RA), taking a subscription is
//! `licenses.provide` (provider RA), changing seats is `service.customize` ("number of
//! accounts", customer RA) and assigning a licence to a mailbox is `directory.administer`.
//! The rules that do not depend on who acts (no downgrade, no seat oversold) are here and in
//! the database.

use mailplane_policy::{Decision, Profile};
use mailplane_store::{NewSubscription, WriteTx};
use mailplane_types::catalogue::{Catalogue, Offer};
use mailplane_types::resources::{MailboxStatus, Subscription, Tenant};
use mailplane_types::{
    AuditOutcome, AuditTarget, Error, MailboxId, Result, SubscriptionId, TenantId,
};

use super::{AUTOMATION_ROLE, AUTOMATION_SUBJECT, ControlPlane, Operation, Outcome, activity};
use crate::Actor;
use crate::input::{
    DEFAULT_QUOTA_BYTES, LicenceAssign, MAX_QUOTA_BYTES, MAX_SEATS, OfferChoose, SeatsChange,
    SubscriptionCreate, TenantRelocate,
};

/// How a change is recorded when the acting party is not the one the matrix makes
/// responsible: the provider's automation carries it out as part of the acting party's
/// operation (placing a tenant its partner created, taking the subscription its offer needs).
pub(super) fn acting_for(actor: &Actor, profile: &Profile, act: &'static str) -> (Actor, Decision) {
    let own = profile.decide(actor.party(), actor.roles(), act);
    if own.verdict == mailplane_policy::Verdict::Execute {
        return (actor.clone(), own);
    }
    let automation = Actor::provider(AUTOMATION_SUBJECT, &[AUTOMATION_ROLE]);
    let decision = profile.decide(automation.party(), automation.roles(), act);
    (automation, decision)
}

/// The offer a tenant is on, if it has one in the catalogue.
pub(super) fn offer_of<'c>(catalogue: &'c Catalogue, tenant: &Tenant) -> Option<&'c Offer> {
    tenant.offer.as_deref().and_then(|o| catalogue.offer(o))
}

/// The default and largest mailbox quota for a tenant: its offer's mailbox size, or the
/// platform's bounds for a tenant that predates the catalogue.
pub(super) fn quota_bounds(catalogue: &Catalogue, tenant: &Tenant) -> (i64, i64) {
    match offer_of(catalogue, tenant) {
        Some(o) => (o.mailbox_quota_bytes, o.mailbox_quota_bytes),
        None => (DEFAULT_QUOTA_BYTES, MAX_QUOTA_BYTES),
    }
}

/// A quota above the tenant's offer's mailbox size is refused under `field`, naming the
/// offer.
pub(super) fn offer_quota(
    p: &mut Problems,
    field: &str,
    catalogue: &Catalogue,
    tenant: &Tenant,
    quota: i64,
) {
    let (_, max) = quota_bounds(catalogue, tenant);
    if quota > max
        && let Some(offer) = offer_of(catalogue, tenant)
    {
        p.add(
            field,
            format!(
                "must not exceed the offer `{}`'s mailbox size of {max} bytes ({})",
                offer.id,
                gib(max)
            ),
        );
    }
}

/// A byte count as people read offers (`50 GiB`).
pub(super) fn gib(bytes: i64) -> String {
    let g = bytes as f64 / (1u64 << 30) as f64;
    if g.fract() == 0.0 {
        format!("{g:.0} GiB")
    } else {
        format!("{g:.1} GiB")
    }
}

/// Derives a slug from a display name: lower-case ASCII letters and digits, other runs of
/// characters as one `-`, at most 40 characters.
pub(super) fn slug_from(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            s.push(c);
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let mut s: String = s.chars().take(40).collect();
    while s.ends_with('-') {
        s.pop();
    }
    if s.len() < 2 {
        s = "tenant".into();
    }
    s
}

/// Whether a slug follows the rule: 2 to 40 characters of a-z, 0-9 and `-`, starting and
/// ending with a letter or digit.
pub(super) fn slug_rule(slug: &str) -> Option<&'static str> {
    let ok = (2..=mailplane_types::limits::SLUG_CHARS).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    (!ok).then_some(
        "must be 2 to 40 characters of a-z, 0-9 and `-`, starting and ending with a letter or digit",
    )
}

impl ControlPlane {
    /// The provider's catalogue. Every authenticated principal may read it: it is the
    /// published offer, not tenant data.
    pub fn catalogue_view(&self) -> &Catalogue {
        &self.config.catalogue
    }

    /// A tenant's licence subscriptions (`licenses.provide`: the provider provides them, the
    /// customer is informed).
    pub async fn subscription_list(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<Vec<Subscription>> {
        self.tenant_for_read(actor, tenant, activity::LICENCES)
            .await?;
        self.store.subscription_list(tenant).await
    }

    /// Moves a tenant to a larger offer (`service.sizing.choose`); a downgrade is refused.
    pub async fn tenant_offer_choose(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: OfferChoose,
    ) -> Result<Outcome<Tenant>> {
        self.run(actor, tenant, Operation::OfferChoose(input), None)
            .await
    }

    /// Moves a tenant's data to another region (`service.location.choose`): the only way a
    /// tenant's region changes, audited, and news to the informed parties.
    pub async fn tenant_relocate(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: TenantRelocate,
    ) -> Result<Outcome<Tenant>> {
        self.run(actor, tenant, Operation::TenantRelocate(input), None)
            .await
    }

    /// Takes a licence subscription for a tenant (`licenses.provide`).
    pub async fn subscription_create(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: SubscriptionCreate,
    ) -> Result<Outcome<Subscription>> {
        self.run(actor, tenant, Operation::SubscriptionCreate(input), None)
            .await
    }

    /// Adds or removes seats of a subscription (`service.customize`).
    pub async fn subscription_seats_set(
        &self,
        actor: &Actor,
        tenant: TenantId,
        subscription: SubscriptionId,
        change: SeatsChange,
    ) -> Result<Outcome<Subscription>> {
        let op = Operation::SubscriptionSeats {
            subscription_id: subscription,
            change,
        };
        self.run(actor, tenant, op, None).await
    }

    /// Assigns a licence to a mailbox (`directory.administer`); returns the subscription.
    pub async fn licence_assign(
        &self,
        actor: &Actor,
        tenant: TenantId,
        mailbox: MailboxId,
        input: LicenceAssign,
    ) -> Result<Outcome<Subscription>> {
        let op = Operation::LicenceAssign {
            mailbox_id: mailbox,
            sku: input.sku,
        };
        self.run(actor, tenant, op, None).await
    }

    /// Takes a licence back from a mailbox (`directory.administer`).
    pub async fn licence_unassign(
        &self,
        actor: &Actor,
        tenant: TenantId,
        mailbox: MailboxId,
        sku: String,
    ) -> Result<Outcome<Subscription>> {
        let op = Operation::LicenceUnassign {
            mailbox_id: mailbox,
            sku,
        };
        self.run(actor, tenant, op, None).await
    }

    /// The SKUs of the licences a mailbox holds.
    pub async fn licence_list(
        &self,
        actor: &Actor,
        tenant: TenantId,
        mailbox: MailboxId,
    ) -> Result<Vec<String>> {
        self.mailbox_view(actor, tenant, mailbox).await?;
        self.store.licences_of(mailbox).await
    }

    /// Checks an offer choice against the tenant as it is: a known offer, open, and larger
    /// than the current one.
    pub(super) fn offer_change<'c>(
        &'c self,
        tenant: &Tenant,
        input: &OfferChoose,
    ) -> Result<&'c Offer> {
        let catalogue = self.catalogue_view();
        let to = catalogue.offer(input.offer.trim()).ok_or_else(|| {
            unknown(
                "offer",
                &input.offer,
                catalogue.offers.iter().map(|o| &o.id),
            )
        })?;
        if !to.open {
            return Err(Error::invalid(
                "offer",
                format!("`{}` is closed to new choices", to.id),
            ));
        }
        if to.licence_required {
            let from_sku = offer_of(catalogue, tenant)
                .filter(|f| f.licence_required)
                .and_then(|f| f.sku.as_deref());
            if from_sku != to.sku.as_deref() {
                return Err(Error::conflict(
                    Some("offer"),
                    format!(
                        "`{}` needs a licence of `{}` on every enabled mailbox, which the current offer does not: the provider moves such a tenant",
                        to.id,
                        to.sku.as_deref().unwrap_or_default()
                    ),
                ));
            }
        }
        if let Some(from) = offer_of(catalogue, tenant) {
            if from.id == to.id {
                return Err(Error::invalid(
                    "offer",
                    format!("the tenant is on `{}` already", to.id),
                ));
            }
            if to.mailbox_quota_bytes < from.mailbox_quota_bytes {
                return Err(Error::invalid(
                    "offer",
                    format!(
                        "a downgrade from `{}` ({}) to `{}` ({}) is refused: an offer can be upgraded, never downgraded",
                        from.id,
                        gib(from.mailbox_quota_bytes),
                        to.id,
                        gib(to.mailbox_quota_bytes)
                    ),
                ));
            }
        }
        Ok(to)
    }

    /// Checks a relocation: a known, open region other than the current one.
    pub(super) fn relocation(&self, tenant: &Tenant, input: &TenantRelocate) -> Result<String> {
        let region = self.open_region(&input.region)?;
        if tenant.region.as_deref() == Some(region.as_str()) {
            return Err(Error::invalid(
                "region",
                format!("the tenant is in `{region}` already"),
            ));
        }
        Ok(region)
    }

    /// A catalogue region open to new tenants, by id.
    pub(super) fn open_region(&self, id: &str) -> Result<String> {
        let catalogue = self.catalogue_view();
        let r = catalogue
            .region(id.trim())
            .ok_or_else(|| unknown("region", id, catalogue.regions.iter().map(|r| &r.id)))?;
        if !r.open {
            return Err(Error::invalid(
                "region",
                format!("`{}` is closed to new tenants", r.id),
            ));
        }
        Ok(r.id.clone())
    }

    /// Takes a subscription for a tenant, checking the SKU and the seats.
    pub(super) async fn subscribe(
        &self,
        tx: &WriteTx,
        tenant: TenantId,
        input: &SubscriptionCreate,
    ) -> Result<Subscription> {
        let catalogue = self.catalogue_view();
        let sku = catalogue
            .sku(input.sku.trim())
            .ok_or_else(|| unknown("sku", &input.sku, catalogue.skus.iter().map(|s| &s.id)))?;
        if !sku.open {
            return Err(Error::invalid(
                "sku",
                format!("`{}` is closed to new subscriptions", sku.id),
            ));
        }
        let seats = input.seats.unwrap_or(sku.minimum_seats);
        if seats < sku.minimum_seats || seats > MAX_SEATS {
            return Err(Error::invalid(
                "seats",
                format!(
                    "must be from the SKU's minimum of {} to {MAX_SEATS}",
                    sku.minimum_seats
                ),
            ));
        }
        tx.subscription_insert(NewSubscription {
            tenant_id: tenant,
            sku: sku.id.clone(),
            seats,
            minimum_seats: sku.minimum_seats,
        })
        .await
    }

    /// Changes a subscription's seats, under its row lock: the database refuses fewer seats
    /// than are assigned (the error names how many licences to unassign) or than the minimum.
    pub(super) async fn change_seats(
        &self,
        tx: &WriteTx,
        tenant: TenantId,
        subscription: SubscriptionId,
        change: &SeatsChange,
    ) -> Result<Subscription> {
        let current = tx.subscription_get(tenant, subscription).await?;
        let seats = match (change.seats, change.add, change.remove) {
            (Some(n), None, None) => i64::from(n),
            (None, Some(n), None) => i64::from(current.seats) + i64::from(n),
            (None, None, Some(n)) => i64::from(current.seats) - i64::from(n),
            _ => {
                return Err(Error::invalid(
                    "seats",
                    "give exactly one of `seats`, `add` and `remove`",
                ));
            }
        };
        if seats < i64::from(current.minimum_seats) {
            return Err(Error::invalid(
                "seats",
                format!(
                    "the subscription may not hold fewer than its minimum of {} seats ({seats} asked)",
                    current.minimum_seats
                ),
            ));
        }
        if seats > i64::from(MAX_SEATS) {
            return Err(Error::invalid(
                "seats",
                format!("must be at most {MAX_SEATS}"),
            ));
        }
        tx.subscription_set_seats(tenant, subscription, seats as u32)
            .await
    }

    /// Assigns a seat of the tenant's subscription to `sku` to a mailbox of the tenant.
    pub(super) async fn assign_licence(
        &self,
        tx: &WriteTx,
        tenant: TenantId,
        mailbox: MailboxId,
        sku: &str,
    ) -> Result<Subscription> {
        tx.mailbox_view(tenant, mailbox)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox))?;
        let s = self.subscription_of(tx, tenant, sku).await?;
        // The row lock makes concurrent assignments queue on PostgreSQL; the database's
        // check refuses the one that would oversell, on either backend.
        let s = tx.subscription_get(tenant, s.id).await?;
        tx.licence_assign(tenant, &s, mailbox).await?;
        tx.subscription_get(tenant, s.id).await
    }

    /// Takes back a mailbox's seat. An enabled mailbox keeps the licence its offer requires.
    pub(super) async fn unassign_licence(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        mailbox: MailboxId,
        sku: &str,
    ) -> Result<Subscription> {
        let m = tx
            .mailbox_view(tenant.id, mailbox)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox))?;
        let s = self.subscription_of(tx, tenant.id, sku).await?;
        if m.status == MailboxStatus::Enabled
            && m.kind == mailplane_types::resources::MailboxKind::User
            && let Some(offer) = offer_of(self.catalogue_view(), tenant)
            && offer.licence_required
            && offer.sku.as_deref() == Some(s.sku.as_str())
        {
            return Err(Error::conflict(
                Some("sku"),
                format!(
                    "the offer `{}` needs a licence of `{}` on every enabled mailbox: disable {} first",
                    offer.id, s.sku, m.address
                ),
            ));
        }
        if !tx.licence_unassign(s.id, mailbox).await? {
            return Err(Error::conflict(
                Some("sku"),
                format!("the mailbox holds no licence of `{}`", s.sku),
            ));
        }
        tx.subscription_get(tenant.id, s.id).await
    }

    /// Gives a mailbox that is to be enabled the licence its offer requires, unless it
    /// holds one already.
    pub(super) async fn license_for_enabling(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        mailbox: MailboxId,
    ) -> Result<()> {
        let Some(offer) = offer_of(self.catalogue_view(), tenant).filter(|o| o.licence_required)
        else {
            return Ok(());
        };
        let kind = tx
            .mailbox_view(tenant.id, mailbox)
            .await?
            .map(|m| m.kind)
            .ok_or_else(|| Error::not_found("mailbox", mailbox))?;
        if kind == mailplane_types::resources::MailboxKind::Shared {
            return Ok(());
        }
        let Some(sku) = offer.sku.as_deref() else {
            return Ok(());
        };
        if tx.licences_of(mailbox).await?.iter().any(|s| s == sku) {
            return Ok(());
        }
        self.assign_licence(tx, tenant.id, mailbox, sku)
            .await
            .map(|_| ())
    }

    async fn subscription_of(
        &self,
        tx: &WriteTx,
        tenant: TenantId,
        sku: &str,
    ) -> Result<Subscription> {
        tx.subscription_for_sku(tenant, sku.trim())
            .await?
            .ok_or_else(|| {
                Error::conflict(
                    Some("sku"),
                    format!(
                        "the tenant holds no `{}` subscription: the provider provides licences (`licenses.provide`)",
                        sku.trim()
                    ),
                )
            })
    }
}

/// A catalogue id that names nothing, with the ids that do.
fn unknown<'a>(field: &str, given: &str, known: impl Iterator<Item = &'a String>) -> Error {
    let known: Vec<&str> = known.map(String::as_str).collect();
    Error::invalid(
        field,
        format!(
            "`{}` is not in the catalogue; must be one of: {}",
            given.trim(),
            known.join(", ")
        ),
    )
}

// The catalogue's operations (`subscription.*`, `licence.*`): their input rules and the changes
// they make, reached by the dispatchers through `parse` and `catalogue_apply`. Choosing an
// offer and a region are the tenant's (`tenants.rs`).

use super::workflow::{Applied, Made};
use crate::input::Problems;

/// A subscription or licence operation whose input passed its check, with the values the check
/// parsed (or borrowed as they are).
pub(super) enum Checked<'a> {
    SubscriptionCreate(&'a SubscriptionCreate),
    SubscriptionSeats(SubscriptionId, &'a SeatsChange),
    LicenceAssign(MailboxId, &'a str),
    LicenceUnassign(MailboxId, &'a str),
}

/// Parses a subscription or licence operation's input into `p`'s problems and a checked value:
/// `None` when `p` holds a problem, or for another resource's operation, which the dispatcher never
/// routes here.
pub(super) fn parse<'a>(op: &'a Operation, p: &mut Problems) -> Option<Checked<'a>> {
    match op {
        // `subscription.create` names a SKU.
        Operation::SubscriptionCreate(i) => {
            sku_rule(p, &i.sku);
            Some(Checked::SubscriptionCreate(i))
        }
        Operation::SubscriptionSeats {
            subscription_id,
            change,
        } => subscription_seats_check(p, *subscription_id, change),
        Operation::LicenceAssign { mailbox_id, sku } => licence_check(p, *mailbox_id, sku, true),
        Operation::LicenceUnassign { mailbox_id, sku } => licence_check(p, *mailbox_id, sku, false),
        _ => None,
    }
}

impl ControlPlane {
    /// Makes the change of a subscription or licence operation whose input passed its check.
    pub(super) async fn catalogue_apply(
        &self,
        tx: &WriteTx,
        _actor: &Actor,
        t: &Tenant,
        checked: Checked<'_>,
    ) -> Result<Made> {
        match checked {
            Checked::SubscriptionCreate(i) => self.subscription_create_apply(tx, t, i).await,
            Checked::SubscriptionSeats(id, i) => self.subscription_seats_apply(tx, t, id, i).await,
            Checked::LicenceAssign(id, sku) => self.licence_apply(tx, t, id, sku, true).await,
            Checked::LicenceUnassign(id, sku) => self.licence_apply(tx, t, id, sku, false).await,
        }
    }
}

/// Checks `subscription.seats`: exactly one of a count, an addition and a removal, each
/// within bounds.
fn subscription_seats_check<'a>(
    p: &mut Problems,
    id: SubscriptionId,
    change: &'a SeatsChange,
) -> Option<Checked<'a>> {
    let given = [change.seats, change.add, change.remove];
    if given.iter().filter(|v| v.is_some()).count() != 1 {
        p.add("seats", "give exactly one of `seats`, `add` and `remove`");
    }
    for (field, v) in [
        ("seats", change.seats),
        ("add", change.add),
        ("remove", change.remove),
    ] {
        if let Some(n) = v
            && !(1..=MAX_SEATS).contains(&n)
        {
            p.add(field, format!("must be from 1 to {MAX_SEATS}"));
        }
    }
    Some(Checked::SubscriptionSeats(id, change))
}

/// Checks `licence.assign` (`assign`) or `licence.unassign`: a SKU is named.
fn licence_check<'a>(
    p: &mut Problems,
    mailbox_id: MailboxId,
    sku: &'a str,
    assign: bool,
) -> Option<Checked<'a>> {
    sku_rule(p, sku);
    Some(if assign {
        Checked::LicenceAssign(mailbox_id, sku)
    } else {
        Checked::LicenceUnassign(mailbox_id, sku)
    })
}

/// A SKU is named.
fn sku_rule(p: &mut Problems, sku: &str) {
    if sku.trim().is_empty() {
        p.add("sku", "must name a catalogue SKU");
    }
}

impl ControlPlane {
    /// Applies `subscription.create`.
    async fn subscription_create_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: &SubscriptionCreate,
    ) -> Result<Made> {
        let s = self.subscribe(tx, tenant.id, input).await?;
        let id = s.id;
        Ok(Made::new(
            Applied::Subscription(s),
            AuditTarget::Subscription,
            id,
            AuditOutcome::Created,
        ))
    }

    /// Applies `subscription.seats`.
    async fn subscription_seats_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        subscription_id: SubscriptionId,
        change: &SeatsChange,
    ) -> Result<Made> {
        let s = self
            .change_seats(tx, tenant.id, subscription_id, change)
            .await?;
        let id = s.id;
        Ok(Made::new(
            Applied::Subscription(s),
            AuditTarget::Subscription,
            id,
            AuditOutcome::SeatsChanged,
        ))
    }

    /// Applies `licence.assign` (`assign`) or `licence.unassign`.
    async fn licence_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        mailbox_id: MailboxId,
        sku: &str,
        assign: bool,
    ) -> Result<Made> {
        let (s, outcome) = if assign {
            self.not_deleted(tx, tenant.id, mailbox_id).await?;
            let s = self.assign_licence(tx, tenant.id, mailbox_id, sku).await?;
            (s, AuditOutcome::LicenceAssigned)
        } else {
            let s = self.unassign_licence(tx, tenant, mailbox_id, sku).await?;
            (s, AuditOutcome::LicenceUnassigned)
        };
        Ok(Made::new(
            Applied::Subscription(s),
            AuditTarget::Mailbox,
            mailbox_id,
            outcome,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_come_from_names() {
        assert_eq!(slug_from("Acme Corp."), "acme-corp");
        assert_eq!(slug_from("  Ärzte & Co  "), "rzte-co");
        assert_eq!(slug_from("X"), "tenant");
        assert_eq!(slug_from(&"a".repeat(60)).len(), 40);
        assert!(slug_rule("acme-corp").is_none());
        assert!(slug_rule("-acme").is_some());
        assert!(slug_rule("Acme").is_some());
        assert!(slug_rule("a").is_some());
    }

    #[test]
    fn sizes_read_as_offers_do() {
        assert_eq!(gib(50 << 30), "50 GiB");
        assert_eq!(gib(3 << 29), "1.5 GiB");
    }
}
