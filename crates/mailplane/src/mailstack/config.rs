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

use std::fmt::Write as _;
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
        ];
        for (i, (field, port)) in ports.iter().enumerate() {
            if *port == 0 {
                errors.push(field_error(*field, "must be a port, 1 to 65535"));
            } else if let Some((other, _)) = ports[..i].iter().find(|(_, p)| p == port) {
                errors.push(field_error(
                    *field,
                    format!("must differ from {other} ({port})"),
                ));
            }
        }
        if self.mail_user == "root" {
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

    fn dovecot_dir(&self) -> PathBuf {
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

    fn socketmap_uri(&self) -> String {
        match &self.socketmap {
            SocketmapListen::Tcp(addr) => format!("socketmap:inet:{addr}"),
            SocketmapListen::Unix(path) => format!("socketmap:unix:{}", path.display()),
        }
    }

    /// Postfix's `main.cf`.
    pub fn postfix_main_cf(&self) -> String {
        let p = self.postfix_dir();
        let map = self.socketmap_uri();
        let mut s = String::new();
        let _ = write!(
            s,
            "# Written by `mailplane mailstack config`: write it again rather than edit it.
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = {listen}
inet_protocols = {protocols}
myhostname = {hostname}
mydestination =
mynetworks = 127.0.0.0/8
local_recipient_maps =
local_transport = error:5.1.1 no local delivery here
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
maillog_file = {log}
maillog_file_prefixes = {prefix}
smtputf8_enable = no

# Mailplane decides: which domains receive mail, which addresses exist, and where aliases,
# groups and forwarding go. A lookup Mailplane cannot answer is a 451, never a bounce.
virtual_mailbox_domains = {map}:domains
virtual_mailbox_maps = {map}:mailboxes
virtual_alias_maps = {map}:aliases
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}

# Nobody relays without signing in; a full mailbox is refused at RCPT by Dovecot's
# quota policy service.
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = reject_unlisted_recipient, check_policy_service inet:127.0.0.1:{quota}
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:{auth}
smtpd_sasl_auth_enable = no
relayhost = {relay}
",
            queue = p.join("queue").display(),
            data = p.join("data").display(),
            listen = self.listen,
            protocols = if self.listen.is_ipv4() { "ipv4" } else { "ipv6" },
            hostname = self.hostname,
            log = self.postfix_log().display(),
            prefix = p.display(),
            lmtp = self.lmtp_port,
            quota = self.quota_status_port,
            auth = self.auth_port,
            relay = self.relay_host.as_deref().unwrap_or(""),
        );
        match &self.tls {
            Some((cert, key)) => {
                let _ = write!(
                    s,
                    "smtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\nsmtpd_tls_security_level = may\nsmtpd_tls_auth_only = yes\nsmtp_tls_security_level = may\n",
                    cert.display(),
                    key.display()
                );
            }
            None => {
                s.push_str("# No TLS: loopback only, and SMTP AUTH without TLS.\nsmtpd_tls_auth_only = no\n");
            }
        }
        s
    }

    /// Postfix's `master.cf`: the services of Debian's file, none chrooted, SMTP and
    /// submission on the configured ports.
    pub fn postfix_master_cf(&self) -> String {
        let submission_tls = if self.tls.is_some() {
            "  -o smtpd_tls_security_level=encrypt\n"
        } else {
            ""
        };
        format!(
            "# Written by `mailplane mailstack config`: write it again rather than edit it.
{smtp:<9} inet  n       -       n       -       -       smtpd
{submission:<9} inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix/submission
{submission_tls}  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
",
            smtp = self.smtp_port,
            submission = self.submission_port,
        )
    }

    /// Dovecot's `dovecot.conf`.
    pub fn dovecot_conf(&self) -> Result<String> {
        let (uid, gid) = user_ids(&self.mail_user)?;
        let d = self.dovecot_dir();
        let tls = match &self.tls {
            Some((cert, key)) => format!(
                "ssl = required\nssl_cert = <{}\nssl_key = <{}\ndisable_plaintext_auth = yes\n",
                cert.display(),
                key.display()
            ),
            None => "# No TLS: loopback only.\nssl = no\ndisable_plaintext_auth = no\n".into(),
        };
        Ok(format!(
            "# Written by `mailplane mailstack config`: write it again rather than edit it.
instance_name = mailplane-{instance}
base_dir = {run}
state_dir = {state}
log_path = {log}
listen = {listen}
protocols = imap lmtp
{tls}auth_mechanisms = plain login
auth_username_format = %Lu
# Every login asks Mailplane, so a change is seen by the next one.
auth_cache_size = 0
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
mail_uid = {uid}
mail_gid = {gid}
mail_home = {root}/%{{userdb:mailplane_mailbox}}
mail_location = maildir:~/Maildir
mail_plugins = $mail_plugins quota

passdb {{
  driver = dict
  args = {dict_auth}
}}
userdb {{
  driver = dict
  args = {dict_auth}
}}

service imap-login {{
  inet_listener imap {{
    address = {listen}
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service auth {{
  inet_listener {{
    address = 127.0.0.1
    port = {auth}
  }}
}}
service quota-status {{
  executable = quota-status -p postfix
  inet_listener {{
    address = 127.0.0.1
    port = {quota}
  }}
  client_limit = 1
}}
protocol imap {{
  mail_plugins = $mail_plugins imap_quota
}}
protocol lmtp {{
  postmaster_address = postmaster@{hostname}
}}
plugin {{
  quota = count:Mailbox quota
  quota_vsizes = yes
  quota_grace = 0%
  quota_status_success = DUNNO
  quota_status_nouser = DUNNO
  quota_status_overquota = 552 5.2.2 Mailbox is full
}}
",
            instance = self.smtp_port,
            run = d.join("run").display(),
            state = d.join("state").display(),
            log = self.dovecot_log().display(),
            listen = self.listen,
            dict_auth = d.join("dict-auth.conf.ext").display(),
            root = self.mail_root().display(),
            imap = self.imap_port,
            lmtp = self.lmtp_port,
            auth = self.auth_port,
            quota = self.quota_status_port,
            hostname = self.hostname,
        ))
    }

    /// Dovecot's dict passdb and userdb: where to ask, and that each answer's fields are the
    /// passdb's or userdb's fields as they are. (Dovecot 2.3's `%{dict:key.field}` in
    /// `userdb_fields` crashes its auth worker, so the answers carry finished fields.)
    pub fn dovecot_dict_auth(&self) -> String {
        format!(
            "# Written by `mailplane mailstack config`: write it again rather than edit it.
uri = proxy:{socket}:mailplane
default_pass_scheme = ARGON2ID
iterate_disable = yes

key passdb {{
  key = passdb/%u
  format = json
}}
key userdb {{
  key = userdb/%u
  format = json
}}
passdb_objects = passdb
userdb_objects = userdb
",
            socket = self.dovecot_dict.display(),
        )
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
        let files = [
            (
                self.postfix_config_dir().join("main.cf"),
                self.postfix_main_cf(),
            ),
            (
                self.postfix_config_dir().join("master.cf"),
                self.postfix_master_cf(),
            ),
            (self.dovecot_config_file(), self.dovecot_conf()?),
            (dovecot.join("dict-auth.conf.ext"), self.dovecot_dict_auth()),
        ];
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
