//! The configuration of a Postfix and a Dovecot that take their lookups from Mailplane:
//! complete `main.cf`, `master.cf`, `dovecot.conf` and the dict-auth file, written by
//! `mailplane mailstack config` and by the tests that run the real servers.
//!
//! One layout serves a single machine and each front end or back end of a larger one: every
//! path the servers write (Postfix's queue, Dovecot's sockets and state, the logs, the
//! mailboxes' files) is under one state folder, every port is a setting, and the lookups
//! point at one Mailplane (a replica on the same host when there are several). Without TLS
//! certificates the servers listen on loopback only, since passwords would otherwise cross
//! the network in clear.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use mailplane_types::{Error, Result};

use super::SocketmapListen;

/// Everything the written configuration depends on.
#[derive(Debug, Clone)]
pub struct MailstackConfig {
    /// Where the lookups are served (`mailplane serve --postfix-socketmap`).
    pub socketmap: SocketmapListen,
    /// The Unix socket of Dovecot's dict (`mailplane serve --dovecot-dict`).
    pub dovecot_dict: PathBuf,
    /// The folder for the servers' state: queue, sockets, logs and the mailboxes' files.
    pub state_dir: PathBuf,
    /// The address SMTP, submission and IMAP listen on.
    pub listen: IpAddr,
    /// The host name Postfix greets with and Dovecot signs bounces as.
    pub hostname: String,
    /// SMTP for incoming mail.
    pub smtp_port: u16,
    /// Submission for the mailboxes' own clients (SMTP AUTH against Dovecot).
    pub submission_port: u16,
    /// IMAP.
    pub imap_port: u16,
    /// LMTP, from Postfix to Dovecot, on loopback.
    pub lmtp_port: u16,
    /// Dovecot's authentication for Postfix's SMTP AUTH, on loopback.
    pub auth_port: u16,
    /// Dovecot's quota policy service for Postfix, on loopback.
    pub quota_status_port: u16,
    /// Dovecot's doveadm HTTP API, which Mailplane's Dovecot data plane drives with the API
    /// key written beside the configuration.
    pub doveadm_port: u16,
    /// Dovecot's doveadm TCP listener, where another back end's dsync connects (a tenant's
    /// relocation between regions), authenticated with the doveadm password written beside
    /// the configuration. Every back end of a deployment must share that password.
    pub dsync_port: u16,
    /// The system user that owns the mailboxes' files (not root).
    pub mail_user: String,
    /// Where mail to other domains goes (`[host]:port`), or none to deliver it by DNS.
    pub relay_host: Option<String>,
    /// The certificate chain and key for TLS, both or neither.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A user's uid and primary gid from `/etc/passwd`.
fn user_ids(name: &str) -> Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| Error::internal(format!("reading /etc/passwd: {e}")))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == name)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .ok_or_else(|| Error::invalid("mail_user", format!("no system user is named {name}")))
}

impl MailstackConfig {
    /// Checks the settings, naming each one that breaks a rule.
    pub fn check(&self) -> Result<()> {
        let mut errors = Vec::new();
        if self.tls.is_none() && !self.listen.is_loopback() {
            errors.push(field_error(
                "listen",
                format!("{} is not loopback: without TLS certificates (tls_cert, tls_key) passwords would cross the network in clear", self.listen),
            ));
        }
        let ports = [
            ("smtp_port", self.smtp_port),
            ("submission_port", self.submission_port),
            ("imap_port", self.imap_port),
            ("lmtp_port", self.lmtp_port),
            ("auth_port", self.auth_port),
            ("quota_status_port", self.quota_status_port),
            ("doveadm_port", self.doveadm_port),
            ("dsync_port", self.dsync_port),
        ];
        for (i, (field, port)) in ports.iter().enumerate() {
            if *port == 0 {
                errors.push(field_error(field, "must be a port, 1 to 65535"));
            } else if let Some((other, _)) = ports[..i].iter().find(|(_, p)| p == port) {
                errors.push(field_error(
                    field,
                    format!("must differ from {other} ({port})"),
                ));
            }
        }
        if user_ids(&self.mail_user).is_err() {
            errors.push(field_error(
                "mail_user",
                format!("no system user is named {}", self.mail_user),
            ));
        } else if self.mail_user == "root" {
            errors.push(field_error(
                "mail_user",
                "must not be root: Dovecot refuses to give mail processes root's rights",
            ));
        }
        if !self.state_dir.is_absolute() {
            errors.push(field_error("state_dir", "must be an absolute path"));
        }
        if !self.dovecot_dict.is_absolute() {
            errors.push(field_error("dovecot_dict", "must be an absolute path"));
        }
        if self.hostname.is_empty() || self.hostname.contains(char::is_whitespace) {
            errors.push(field_error("hostname", "must be a host name"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(errors))
        }
    }

    fn postfix_dir(&self) -> PathBuf {
        self.state_dir.join("postfix")
    }

    /// Dovecot's folder: its configuration, secrets, sockets and logs.
    pub fn dovecot_dir(&self) -> PathBuf {
        self.state_dir.join("dovecot")
    }

    /// Where the mailboxes' files are: `<mail root>/<tenant>/<mailbox>`.
    pub fn mail_root(&self) -> PathBuf {
        self.state_dir.join("mail")
    }

    /// The folder that holds `main.cf` and `master.cf` (`postfix -c`).
    pub fn postfix_config_dir(&self) -> PathBuf {
        self.postfix_dir().join("conf")
    }

    /// Dovecot's configuration file (`dovecot -c`).
    pub fn dovecot_config_file(&self) -> PathBuf {
        self.dovecot_dir().join("dovecot.conf")
    }

    /// Dovecot's `master.pid`, written when it runs.
    pub fn dovecot_pid_file(&self) -> PathBuf {
        self.dovecot_dir().join("run").join("master.pid")
    }

    /// Postfix's log file.
    pub fn postfix_log(&self) -> PathBuf {
        self.postfix_dir().join("postfix.log")
    }

    /// Dovecot's log file.
    pub fn dovecot_log(&self) -> PathBuf {
        self.dovecot_dir().join("dovecot.log")
    }

    /// What Mailplane's Dovecot data plane needs to drive this Dovecot: its doveadm API and
    /// IMAP addresses, and the API key and master password [`Self::write`] made.
    pub fn dovecot_settings(&self) -> Result<crate::data_plane::DovecotSettings> {
        let read = |name: &str| {
            let path = self.dovecot_dir().join(name);
            std::fs::read_to_string(&path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))
        };
        let host = if self.listen.is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            self.listen
        };
        Ok(crate::data_plane::DovecotSettings {
            doveadm_url: format!(
                "http://{}",
                std::net::SocketAddr::new(host, self.doveadm_port)
            ),
            api_key: read(DOVEADM_API_KEY)?,
            imap: std::net::SocketAddr::new(host, self.imap_port),
            master_user: MASTER_USER.to_owned(),
            master_password: read(MASTER_PASSWORD)?,
            mail_root: Some(self.mail_root()),
            dsync: Some(std::net::SocketAddr::new(host, self.dsync_port)),
            timeout: std::time::Duration::from_secs(30),
        })
    }

    /// Makes the secrets Mailplane and Dovecot share, once: the doveadm API key, the doveadm
    /// password dsync between back ends signs in with (copy it to every back end of a
    /// deployment before its configuration is written), and the master user's password
    /// with its `passwd-file` entry. Written again, the configuration
    /// keeps them, so a running Mailplane keeps its access.
    fn write_secrets(&self) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = self.dovecot_dir();
        let make = |name: &str| -> Result<String> {
            let path = dir.join(name);
            if let Ok(existing) = std::fs::read_to_string(&path) {
                return Ok(existing.trim().to_owned());
            }
            let mut bytes = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
            let secret = hex::encode(bytes);
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut f| f.write_all(secret.as_bytes()))
                .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))?;
            Ok(secret)
        };
        make(DOVEADM_API_KEY)?;
        make(DOVEADM_PASSWORD)?;
        let password = make(MASTER_PASSWORD)?;
        // Dovecot's `{SHA256}` scheme: the base64 of the digest. The password is 256 random
        // bits, so a salt or a slow hash would add nothing.
        let digest = {
            use base64::Engine;
            use sha2::Digest;
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(password))
        };
        let path = dir.join("master-users");
        std::fs::write(&path, format!("{MASTER_USER}:{{SHA256}}{digest}\n"))
            .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))?;
        // Dovecot's auth process reads it as Dovecot's user: the group `dovecot` may read.
        let io = |e: std::io::Error| Error::internal(format!("writing {}: {e}", path.display()));
        use std::os::unix::fs::PermissionsExt;
        if is_root() {
            let dovecot = group_id("dovecot").map_err(|_| {
                Error::internal("no system group is named dovecot: is Dovecot installed?")
            })?;
            std::os::unix::fs::chown(&path, Some(0), Some(dovecot)).map_err(io)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).map_err(io)
        } else {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)
        }
    }

    /// The values the templates' `{{placeholders}}` take.
    fn values(&self) -> Result<Vec<(&'static str, String)>> {
        let (mail_uid, mail_gid) = user_ids(&self.mail_user)?;
        let socketmap = match &self.socketmap {
            SocketmapListen::Tcp(addr) => format!("socketmap:inet:{addr}"),
            SocketmapListen::Unix(path) => format!("socketmap:unix:{}", path.display()),
        };
        let (postfix_tls, submission_tls, dovecot_tls) = match &self.tls {
            Some((cert, key)) => (
                format!(
                    "smtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\nsmtpd_tls_security_level = may\nsmtpd_tls_auth_only = yes\nsmtp_tls_security_level = may",
                    cert.display(),
                    key.display()
                ),
                "  -o smtpd_tls_security_level=encrypt\n".to_owned(),
                format!(
                    "ssl = required\nssl_cert = <{}\nssl_key = <{}\ndisable_plaintext_auth = yes",
                    cert.display(),
                    key.display()
                ),
            ),
            None => (
                "# No TLS: loopback only, and SMTP AUTH without TLS.\nsmtpd_tls_auth_only = no"
                    .to_owned(),
                String::new(),
                "# No TLS: loopback only.\nssl = no\ndisable_plaintext_auth = no".to_owned(),
            ),
        };
        Ok(vec![
            ("postfix_dir", self.postfix_dir().display().to_string()),
            ("dovecot_dir", self.dovecot_dir().display().to_string()),
            ("mail_root", self.mail_root().display().to_string()),
            ("listen", self.listen.to_string()),
            (
                "protocols",
                if self.listen.is_ipv4() {
                    "ipv4"
                } else {
                    "ipv6"
                }
                .to_owned(),
            ),
            ("hostname", self.hostname.clone()),
            ("socketmap", socketmap),
            ("dovecot_dict", self.dovecot_dict.display().to_string()),
            ("smtp_port", self.smtp_port.to_string()),
            ("submission_port", self.submission_port.to_string()),
            ("imap_port", self.imap_port.to_string()),
            ("lmtp_port", self.lmtp_port.to_string()),
            ("auth_port", self.auth_port.to_string()),
            ("quota_status_port", self.quota_status_port.to_string()),
            ("doveadm_port", self.doveadm_port.to_string()),
            ("dsync_port", self.dsync_port.to_string()),
            ("relay_host", self.relay_host.clone().unwrap_or_default()),
            ("mail_uid", mail_uid.to_string()),
            ("mail_gid", mail_gid.to_string()),
            ("postfix_tls", postfix_tls),
            ("submission_tls", submission_tls),
            ("dovecot_tls", dovecot_tls),
        ])
    }

    /// The four files, each with its path and text.
    pub fn files(&self) -> Result<Vec<(PathBuf, String)>> {
        let values = self.values()?;
        let dovecot = self.dovecot_dir();
        TEMPLATES
            .iter()
            .map(|(name, template)| {
                let path = match *name {
                    "main.cf" | "master.cf" => self.postfix_config_dir().join(name),
                    _ => dovecot.join(name),
                };
                render(name, template, &values).map(|text| (path, text))
            })
            .collect()
    }

    /// Writes the four files under the state folder and makes the folders the servers need,
    /// owned by their users when run as root. Returns the files written.
    pub fn write(&self) -> Result<Vec<PathBuf>> {
        self.check()?;
        let io = |path: &Path, e: std::io::Error| {
            Error::internal(format!("writing {}: {e}", path.display()))
        };
        let postfix = self.postfix_dir();
        let dovecot = self.dovecot_dir();
        for dir in [
            self.postfix_config_dir(),
            postfix.join("queue"),
            postfix.join("data"),
            dovecot.join("run"),
            dovecot.join("state"),
            self.mail_root(),
        ] {
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        }
        // Postfix and Dovecot work as their own users under the state folder: every folder
        // above it must let them pass.
        for dir in self.state_dir.ancestors() {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(dir)
                && meta.permissions().mode() & 0o001 == 0
            {
                return Err(Error::invalid(
                    "state_dir",
                    format!(
                        "{} lets only its owner and group in: Postfix and Dovecot work as their own users under it (chmod o+x {})",
                        dir.display(),
                        dir.display()
                    ),
                ));
            }
        }
        self.write_secrets()?;
        let files = self.files()?;
        for (path, text) in &files {
            std::fs::write(path, text).map_err(|e| io(path, e))?;
        }
        if is_root() {
            let (postfix_uid, _) = user_ids("postfix")?;
            let postdrop = group_id("postdrop")?;
            let (mail_uid, mail_gid) = user_ids(&self.mail_user)?;
            let chown = |path: &Path, uid: u32, gid: Option<u32>| {
                std::os::unix::fs::chown(path, Some(uid), gid).map_err(|e| io(path, e))
            };
            chown(&postfix.join("data"), postfix_uid, None)?;
            chown(&self.mail_root(), mail_uid, Some(mail_gid))?;
            // The queue's folders, as Postfix's `postfix-files` lays them out (what
            // `postfix start` would make): the servers start from the master directly.
            for (name, gid, mode) in QUEUE_FOLDERS {
                let dir = postfix.join("queue").join(name);
                std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
                let (uid, gid) = match gid {
                    QueueOwner::Root => (0, None),
                    QueueOwner::Postfix => (postfix_uid, None),
                    QueueOwner::PostfixPostdrop => (postfix_uid, Some(postdrop)),
                };
                chown(&dir, uid, gid)?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(*mode))
                    .map_err(|e| io(&dir, e))?;
            }
        }
        Ok(files.into_iter().map(|(p, _)| p).collect())
    }
}

/// The master user Mailplane's data plane signs in to IMAP as (`<mailbox user>*mailplane`).
const MASTER_USER: &str = "mailplane";
/// The file of the doveadm API key, in Dovecot's folder.
const DOVEADM_API_KEY: &str = "doveadm-api-key";
/// The file of the doveadm password (dsync between back ends), in Dovecot's folder.
pub const DOVEADM_PASSWORD: &str = "doveadm-password";
/// The file of the master user's password, in Dovecot's folder.
const MASTER_PASSWORD: &str = "master-password";

/// The templates, in the folder `crates/mailplane/mailstack/` where a reviewer reads them as
/// the configuration files they are. `{{name}}` is replaced by a value of
/// [`MailstackConfig::values`]; the TLS parts are whole lines made in code.
const TEMPLATES: [(&str, &str); 4] = [
    ("main.cf", include_str!("../../mailstack/main.cf")),
    ("master.cf", include_str!("../../mailstack/master.cf")),
    ("dovecot.conf", include_str!("../../mailstack/dovecot.conf")),
    (
        "dict-auth.conf.ext",
        include_str!("../../mailstack/dict-auth.conf.ext"),
    ),
];

/// Fills a template's placeholders; a placeholder without a value is a defect.
fn render(name: &str, template: &str, values: &[(&str, String)]) -> Result<String> {
    let mut text = template.to_owned();
    for (key, value) in values {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    match text.find("{{") {
        Some(at) => Err(Error::internal(format!(
            "the template {name} has a placeholder without a value: {}",
            &text[at..text[at..].find("}}").map_or(text.len(), |e| at + e + 2)]
        ))),
        None => Ok(text),
    }
}

/// Who owns a folder of Postfix's queue.
enum QueueOwner {
    Root,
    Postfix,
    PostfixPostdrop,
}

/// The folders of Postfix's queue, their owner and mode (Debian's `postfix-files`).
const QUEUE_FOLDERS: &[(&str, QueueOwner, u32)] = &[
    ("active", QueueOwner::Postfix, 0o700),
    ("bounce", QueueOwner::Postfix, 0o700),
    ("corrupt", QueueOwner::Postfix, 0o700),
    ("defer", QueueOwner::Postfix, 0o700),
    ("deferred", QueueOwner::Postfix, 0o700),
    ("flush", QueueOwner::Postfix, 0o700),
    ("hold", QueueOwner::Postfix, 0o700),
    ("incoming", QueueOwner::Postfix, 0o700),
    ("private", QueueOwner::Postfix, 0o700),
    ("maildrop", QueueOwner::PostfixPostdrop, 0o730),
    ("public", QueueOwner::PostfixPostdrop, 0o710),
    ("pid", QueueOwner::Root, 0o755),
    ("saved", QueueOwner::Postfix, 0o700),
    ("trace", QueueOwner::Postfix, 0o700),
];

/// A group's gid from `/etc/group`.
fn group_id(name: &str) -> Result<u32> {
    let groups = std::fs::read_to_string("/etc/group")
        .map_err(|e| Error::internal(format!("reading /etc/group: {e}")))?;
    groups
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[0] == name)
        .and_then(|f| f[2].parse().ok())
        .ok_or_else(|| {
            Error::internal(format!(
                "no system group is named {name}: is Postfix installed?"
            ))
        })
}

fn field_error(field: &str, rule: impl Into<String>) -> mailplane_types::FieldError {
    mailplane_types::FieldError {
        field: field.to_owned(),
        rule: rule.into(),
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use super::{MailstackConfig, SocketmapListen};

    fn config() -> MailstackConfig {
        MailstackConfig {
            socketmap: SocketmapListen::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 10027))),
            dovecot_dict: "/run/mailplane/dict.sock".into(),
            state_dir: "/srv/mailstack".into(),
            listen: Ipv4Addr::LOCALHOST.into(),
            hostname: "mx.example.net".into(),
            smtp_port: 25,
            submission_port: 587,
            imap_port: 143,
            lmtp_port: 24,
            auth_port: 12345,
            quota_status_port: 12340,
            doveadm_port: 12341,
            dsync_port: 12342,
            // A user every system has; the settings check refuses root, rendering does not.
            mail_user: "root".into(),
            relay_host: None,
            tls: None,
        }
    }

    #[test]
    fn every_placeholder_of_every_template_is_filled() {
        let files = config().files().expect("render");
        assert_eq!(files.len(), 4);
        for (path, text) in &files {
            assert!(!text.contains("{{"), "{}: {text}", path.display());
        }
        let main = &files[0].1;
        for map in ["domains", "mailboxes", "aliases"] {
            assert!(
                main.contains(&format!("socketmap:inet:127.0.0.1:10027:{map}")),
                "{main}"
            );
        }
        assert!(
            files[3]
                .1
                .contains("uri = proxy:/run/mailplane/dict.sock:mailplane")
        );
    }

    #[test]
    fn settings_that_would_expose_passwords_or_collide_are_refused_by_name() {
        let mut c = config();
        c.listen = IpAddr::from([192, 0, 2, 1]);
        c.imap_port = 25;
        c.state_dir = "relative".into();
        let err = c.check().expect_err("refused");
        let mailplane_types::Error::Invalid(fields) = err else {
            panic!("{err:?}");
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["listen", "imap_port", "mail_user", "state_dir"]);
    }
}
