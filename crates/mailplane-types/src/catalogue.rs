//! The provider's service catalogue: the regions it runs in, the offers it sells, the
//! licences (SKUs) behind them, and the DNS records its customers publish.
//!
//! A catalogue is the provider's published terms, like a RACI profile: it is read from a
//! file the provider keeps under version control, checked as a whole when it loads, and
//! shown to every authenticated principal. Tenants refer to its entries by id; an entry a
//! tenant uses is never deleted from the file, only closed to new choices (`open = false`).

use serde::{Deserialize, Serialize};

use crate::DomainName;

/// The whole catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// The provider's mail domain: every tenant gets `<tenant-slug>.<mail_domain>` as its
    /// default domain at creation.
    pub mail_domain: String,
    /// The region a tenant is placed in when nobody states a preference.
    pub default_region: String,
    /// The offer a tenant starts on when its order names none: the entry offer, since an
    /// offer can be upgraded but never downgraded.
    pub default_offer: String,
    /// The records a customer publishes at its own DNS host for a custom domain.
    pub dns: DnsGuidance,
    /// Where tenants' data may live.
    pub regions: Vec<Region>,
    /// The mailbox offers on sale.
    pub offers: Vec<Offer>,
    /// The licences a tenant subscribes to and assigns to mailboxes.
    pub skus: Vec<Sku>,
}

/// The provider's side of the DNS records a customer publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DnsGuidance {
    /// The host the customer's MX record points to.
    pub mx_host: String,
    /// The MX preference to publish.
    pub mx_priority: u16,
    /// The name the customer's SPF record includes (`include:<spf_include>`).
    pub spf_include: String,
    /// The host `autodiscover.<domain>` is a CNAME of.
    pub autodiscover_host: String,
    /// The label under the customer's domain that holds the verification TXT record
    /// (`_mailplane` gives `_mailplane.example.com`).
    pub verification_label: String,
}

/// A region: a primary datacentre and its replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// The stable id (`eu`).
    pub id: String,
    /// A display name.
    pub name: String,
    /// The datacentre where the data primarily lives.
    pub primary_site: String,
    /// The datacentre it is replicated to, if any.
    #[serde(default)]
    pub replica_site: Option<String>,
    /// Whether new tenants may be placed here.
    #[serde(default = "yes")]
    pub open: bool,
}

/// A mailbox offer: the size every mailbox of the tenant may grow to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// The stable, price-free catalogue id (`mailbox-50gb`).
    pub id: String,
    /// A display name.
    pub title: String,
    /// The largest quota a mailbox may have under this offer, and the default quota of a
    /// new mailbox. Offers are ordered by it: a larger one is an upgrade.
    pub mailbox_quota_bytes: i64,
    /// Whether a mailbox needs an assigned licence to be enabled.
    #[serde(default)]
    pub licence_required: bool,
    /// The SKU whose licences the mailboxes of this offer use.
    #[serde(default)]
    pub sku: Option<String>,
    /// Whether tenants may choose it now.
    #[serde(default = "yes")]
    pub open: bool,
}

/// A licence product a tenant subscribes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Sku {
    /// The stable id (`exchange-standard`).
    pub id: String,
    /// A display name.
    pub title: String,
    /// The fewest seats a subscription may hold.
    pub minimum_seats: u32,
    /// Whether new subscriptions may be taken.
    #[serde(default = "yes")]
    pub open: bool,
}

fn yes() -> bool {
    true
}

impl Catalogue {
    /// A region by id.
    pub fn region(&self, id: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.id == id)
    }

    /// An offer by id.
    pub fn offer(&self, id: &str) -> Option<&Offer> {
        self.offers.iter().find(|o| o.id == id)
    }

    /// A SKU by id.
    pub fn sku(&self, id: &str) -> Option<&Sku> {
        self.skus.iter().find(|s| s.id == id)
    }

    /// Every rule the catalogue breaks, each naming the entry and the rule; empty when the
    /// catalogue is sound.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        for (field, name) in [
            ("mail_domain", &self.mail_domain),
            ("dns.mx_host", &self.dns.mx_host),
            ("dns.spf_include", &self.dns.spf_include),
            ("dns.autodiscover_host", &self.dns.autodiscover_host),
        ] {
            if let Err(rule) = DomainName::parse(name) {
                p.push(format!("{field} `{name}`: {rule}"));
            }
        }
        if !is_id(&self.dns.verification_label.replace('_', "")) {
            p.push(format!(
                "dns.verification_label `{}`: must be one DNS label of a-z, 0-9, `-` and `_`",
                self.dns.verification_label
            ));
        }
        let mut ids = |kind: &str, list: Vec<&str>| {
            for (i, id) in list.iter().enumerate() {
                if !is_id(id) {
                    p.push(format!(
                        "{kind} `{id}`: an id is 1 to 63 characters of a-z, 0-9 and `-`"
                    ));
                }
                if list[..i].contains(id) {
                    p.push(format!("{kind} `{id}`: defined twice"));
                }
            }
        };
        ids(
            "regions",
            self.regions.iter().map(|r| r.id.as_str()).collect(),
        );
        ids(
            "offers",
            self.offers.iter().map(|o| o.id.as_str()).collect(),
        );
        ids("skus", self.skus.iter().map(|s| s.id.as_str()).collect());
        match self.region(&self.default_region) {
            None => p.push(format!(
                "default_region `{}`: no such region",
                self.default_region
            )),
            Some(r) if !r.open => p.push(format!(
                "default_region `{}`: the region is closed to new tenants",
                r.id
            )),
            Some(_) => {}
        }
        match self.offer(&self.default_offer) {
            None => p.push(format!(
                "default_offer `{}`: no such offer",
                self.default_offer
            )),
            Some(o) if !o.open => p.push(format!(
                "default_offer `{}`: the offer is closed to new tenants",
                o.id
            )),
            Some(_) => {}
        }
        for o in &self.offers {
            if o.mailbox_quota_bytes <= 0 {
                p.push(format!(
                    "offers `{}`: mailbox_quota_bytes must be positive",
                    o.id
                ));
            }
            match &o.sku {
                Some(s) if self.sku(s).is_none() => {
                    p.push(format!("offers `{}`: sku `{s}` is not defined", o.id))
                }
                None if o.licence_required => p.push(format!(
                    "offers `{}`: licence_required needs the sku whose licences it uses",
                    o.id
                )),
                _ => {}
            }
            if let Some(twin) = self
                .offers
                .iter()
                .find(|x| x.id < o.id && x.mailbox_quota_bytes == o.mailbox_quota_bytes)
            {
                p.push(format!(
                    "offers `{}` and `{}`: the same mailbox size leaves upgrades undefined",
                    twin.id, o.id
                ));
            }
        }
        for s in &self.skus {
            if s.minimum_seats == 0 {
                p.push(format!("skus `{}`: minimum_seats must be at least 1", s.id));
            }
        }
        p
    }
}

/// A catalogue id: 1 to 63 characters of a-z, 0-9 and `-`, not starting with `-`.
fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
