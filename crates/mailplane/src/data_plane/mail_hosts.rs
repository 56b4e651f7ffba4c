//! The mail hosts file: which Dovecot back ends each region of the catalogue keeps its
//! tenants' mailboxes on. A region not listed keeps them in the deployment's default data
//! plane (the embedded file store).
//!
//! A region lists one back end (`[regions.dovecot]`, named after the region unless it has a
//! `name`) or several (`[[regions.backends]]`, each with a `name`). Names are unique in the
//! deployment: a tenant's placement stores its back end's name
//! (`crate::data_plane::RegionalDataPlane`). A back end marked `draining = true` takes no
//! new tenants; the tenants placed on it stay until they are moved (`tenant.relocate` with a
//! `backend`), which is how a provider empties a back end before taking it out of service.
//!
//! ```toml
//! [[regions]]
//! region = "eu"
//! [[regions.backends]]
//! name = "eu-1"
//! doveadm = "http://10.0.0.1:8080"
//! imap = "10.0.0.1:143"
//! lmtp = "10.0.0.1:24"
//! secrets = "/etc/mailplane/eu-1"
//! [[regions.backends]]
//! name = "eu-2"
//! draining = true
//! # ... the same fields
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use mailplane_types::catalogue::Catalogue;
use mailplane_types::{Error, FieldError, Result};

use super::DovecotSettings;

/// The deployment's mail hosts: the Dovecot back ends of each region that has some.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailHosts {
    /// One entry per region with back ends; a region not listed keeps its mailboxes in the
    /// default data plane.
    #[serde(default)]
    pub regions: Vec<RegionMailHost>,
}

/// A region's mail host: one back end or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionMailHost {
    /// The catalogue region (`eu`).
    pub region: String,
    /// Its one Dovecot back end, named after the region unless it has a `name`.
    #[serde(default)]
    pub dovecot: Option<DovecotHost>,
    /// Its Dovecot back ends, each with a `name`, in the order listed.
    #[serde(default)]
    pub backends: Vec<DovecotHost>,
}

/// How to reach a Dovecot back end, as `mailplane mailstack config` lays it out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DovecotHost {
    /// The back end's name, unique in the deployment (what a tenant's placement stores):
    /// required in `backends`; a region's one `dovecot` is named after the region without it.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether the back end takes no new tenants (it is being emptied).
    #[serde(default)]
    pub draining: bool,
    /// The doveadm HTTP API, `http://host:port`.
    pub doveadm: String,
    /// IMAP, for the data plane's master user.
    pub imap: SocketAddr,
    /// LMTP, where Postfix delivers the mail of the tenants placed here.
    pub lmtp: SocketAddr,
    /// The doveadm TCP listener, where another back end's dsync connects to copy a
    /// relocated tenant's mailboxes here. Without it, mail is copied to this back end by
    /// export and import (which loses nothing but is slower).
    #[serde(default)]
    pub dsync: Option<SocketAddr>,
    /// The folder holding `doveadm-api-key` and `master-password` (the `dovecot` folder
    /// `mailplane mailstack config` writes).
    pub secrets: PathBuf,
    /// Dovecot's mail root, when its files are on this machine: destroyed mailboxes' homes
    /// are then removed too.
    #[serde(default)]
    pub mail_root: Option<PathBuf>,
    /// The limit of each request to the back end, in seconds (30).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    30
}

/// The master user `mailplane mailstack config` writes.
const MASTER_USER: &str = "mailplane";

/// The longest back end name.
const MAX_NAME: usize = 63;

impl MailHosts {
    /// Reads a mail hosts file (TOML), naming the field of each problem.
    pub fn load(path: &Path) -> Result<MailHosts> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid("mail_hosts", format!("{}: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| Error::invalid("mail_hosts", format!("{}: {e}", path.display())))
    }

    /// The problems of these hosts against the catalogue, each naming its field.
    pub fn check(&self, catalogue: &Catalogue) -> Result<()> {
        let mut errors = Vec::new();
        // Each name seen, with the field that gave it.
        let mut names: Vec<(String, String)> = Vec::new();
        for (i, host) in self.regions.iter().enumerate() {
            let at = |field: &str| format!("regions[{i}].{field}");
            let mut error = |field: String, rule: String| errors.push(FieldError { field, rule });
            if catalogue.region(&host.region).is_none() {
                error(
                    at("region"),
                    format!("`{}` is not a region of the catalogue", host.region),
                );
            }
            if self.regions[..i].iter().any(|h| h.region == host.region) {
                error(
                    at("region"),
                    format!(
                        "`{}` is listed twice: list all its back ends in one entry",
                        host.region
                    ),
                );
            }
            match (&host.dovecot, host.backends.is_empty()) {
                (None, true) => error(
                    format!("regions[{i}]"),
                    "lists no back end: give one `dovecot` or a list of `backends`".into(),
                ),
                (Some(_), false) => error(
                    at("backends"),
                    "give one `dovecot` or a list of `backends`, not both".into(),
                ),
                _ => {}
            }
            let listed = host
                .dovecot
                .iter()
                .map(|d| {
                    (
                        at("dovecot"),
                        d,
                        d.name.clone().or(Some(host.region.clone())),
                    )
                })
                .chain(
                    host.backends
                        .iter()
                        .enumerate()
                        .map(|(j, d)| (at(&format!("backends[{j}]")), d, d.name.clone())),
                );
            for (field, d, name) in listed {
                match name {
                    None => error(
                        format!("{field}.name"),
                        "is required: each of a region's `backends` is named".into(),
                    ),
                    Some(name) if !valid_name(&name) => error(
                        format!("{field}.name"),
                        format!(
                            "`{name}` must be 1 to {MAX_NAME} letters, digits, `-`, `_` or `.`"
                        ),
                    ),
                    Some(name) => {
                        if let Some((_, first)) = names.iter().find(|(n, _)| *n == name) {
                            error(
                                format!("{field}.name"),
                                format!(
                                    "`{name}` names another back end already ({first}): names are unique in the deployment"
                                ),
                            );
                        } else {
                            names.push((name, field.clone()));
                        }
                    }
                }
                if !(d.doveadm.starts_with("http://") || d.doveadm.starts_with("https://")) {
                    error(
                        format!("{field}.doveadm"),
                        "must be an http:// or https:// address".into(),
                    );
                }
                if !d.secrets.is_absolute() {
                    error(
                        format!("{field}.secrets"),
                        "must be an absolute path".into(),
                    );
                }
                if d.timeout_seconds == 0 {
                    error(
                        format!("{field}.timeout_seconds"),
                        "must be at least 1".into(),
                    );
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(errors))
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl RegionMailHost {
    /// The region's back ends with their names, in the order listed (a `dovecot` without a
    /// name is named after the region). A back end without a name, which [`MailHosts::check`]
    /// refuses, is left out.
    pub fn named(&self) -> impl Iterator<Item = (String, &DovecotHost)> {
        self.dovecot
            .iter()
            .map(|d| (d.name.clone().unwrap_or_else(|| self.region.clone()), d))
            .chain(
                self.backends
                    .iter()
                    .filter_map(|d| d.name.clone().map(|n| (n, d))),
            )
    }
}

impl DovecotHost {
    /// The data plane's settings, with the secrets read from their folder.
    pub fn settings(&self) -> Result<DovecotSettings> {
        let read = |name: &str| {
            let path = self.secrets.join(name);
            std::fs::read_to_string(&path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| Error::invalid("dovecot.secrets", format!("{}: {e}", path.display())))
        };
        Ok(DovecotSettings {
            doveadm_url: self.doveadm.clone(),
            api_key: read("doveadm-api-key")?,
            imap: self.imap,
            master_user: MASTER_USER.into(),
            master_password: read("master-password")?,
            mail_root: self.mail_root.clone(),
            dsync: self.dsync,
            timeout: Duration::from_secs(self.timeout_seconds),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> Catalogue {
        let c = crate::catalogue::builtin();
        for r in ["eu", "ca"] {
            assert!(c.region(r).is_some(), "the built-in catalogue has `{r}`");
        }
        c
    }

    fn fields(hosts: &str) -> Vec<(String, String)> {
        let hosts: MailHosts = toml::from_str(hosts).expect("the file parses");
        match hosts.check(&catalogue()) {
            Ok(()) => vec![],
            Err(Error::Invalid(errors)) => errors.into_iter().map(|e| (e.field, e.rule)).collect(),
            Err(e) => panic!("{e}"),
        }
    }

    const HOST: &str = "doveadm = \"http://127.0.0.1:8080\"\nimap = \"127.0.0.1:143\"\nlmtp = \"127.0.0.1:24\"\nsecrets = \"/etc/mp\"\n";

    #[test]
    fn the_one_back_end_form_still_loads_and_is_named_after_its_region() {
        let text = format!("[[regions]]\nregion = \"eu\"\n[regions.dovecot]\n{HOST}");
        assert_eq!(fields(&text), vec![]);
        let hosts: MailHosts = toml::from_str(&text).unwrap();
        let named: Vec<_> = hosts.regions[0].named().map(|(n, _)| n).collect();
        assert_eq!(named, ["eu"]);
        assert!(!hosts.regions[0].dovecot.as_ref().unwrap().draining);
    }

    #[test]
    fn a_region_lists_several_named_back_ends_one_of_them_draining() {
        let text = format!(
            "[[regions]]\nregion = \"eu\"\n[[regions.backends]]\nname = \"eu-1\"\n{HOST}\
             [[regions.backends]]\nname = \"eu-2\"\ndraining = true\n{HOST}"
        );
        assert_eq!(fields(&text), vec![]);
        let hosts: MailHosts = toml::from_str(&text).unwrap();
        let named: Vec<_> = hosts.regions[0]
            .named()
            .map(|(n, d)| (n, d.draining))
            .collect();
        assert_eq!(
            named,
            [("eu-1".to_string(), false), ("eu-2".to_string(), true)]
        );
    }

    #[test]
    fn each_problem_names_its_field() {
        let found = fields(&format!(
            "[[regions]]\nregion = \"eu\"\n[[regions.backends]]\nname = \"one\"\n{HOST}\
             [[regions.backends]]\n{HOST}\
             [[regions.backends]]\nname = \"bad name\"\n{HOST}\
             [[regions]]\nregion = \"ca\"\n[[regions.backends]]\nname = \"one\"\n{HOST}\
             [[regions]]\nregion = \"ca\"\n[regions.dovecot]\nname = \"ca-2\"\n{HOST}\
             [[regions.backends]]\nname = \"ca-3\"\n{HOST}\
             [[regions]]\nregion = \"eu\"\n"
        ));
        let fields: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "regions[0].backends[1].name",
                "regions[0].backends[2].name",
                "regions[1].backends[0].name",
                "regions[2].region",
                "regions[2].backends",
                "regions[3].region",
                "regions[3]",
            ],
            "{found:#?}"
        );
        assert!(found[0].1.contains("is required"), "{}", found[0].1);
        assert!(found[1].1.contains("`bad name`"), "{}", found[1].1);
        assert!(
            found[2].1.contains("regions[0].backends[0]") && found[2].1.contains("unique"),
            "the duplicate names the first: {}",
            found[2].1
        );
        assert!(found[3].1.contains("listed twice"), "{}", found[3].1);
        assert!(found[6].1.contains("no back end"), "{}", found[6].1);
    }

    #[test]
    fn a_named_one_back_end_may_not_take_another_regions_name() {
        let found = fields(&format!(
            "[[regions]]\nregion = \"eu\"\n[regions.dovecot]\n{HOST}\
             [[regions]]\nregion = \"ca\"\n[regions.dovecot]\nname = \"eu\"\n{HOST}"
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "regions[1].dovecot.name");
    }
}
