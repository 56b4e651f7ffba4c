//! `mailplane mailstack config` and the `serve` settings that answer the mail servers'
//! lookups: the command line of the library's `mailplane::mailstack`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Subcommand};

use mailplane::mailstack::{MailstackConfig, MailstackSettings, SocketmapListen};

/// The mail stack's commands.
#[derive(Subcommand)]
pub enum MailstackCommand {
    /// Write the configuration of a Postfix and a Dovecot that take their lookups from this
    /// Mailplane (main.cf, master.cf, dovecot.conf, dict-auth.conf.ext), make the folders
    /// they need, and print how to start them.
    Config(ConfigArgs),
}

/// The settings of the written configuration.
#[derive(Args)]
pub struct ConfigArgs {
    /// The folder for the configuration and everything the servers write (queue, sockets,
    /// logs, the mailboxes' files). Absolute, or relative to the current folder.
    #[arg(long)]
    out: PathBuf,
    /// Where `mailplane serve --postfix-socketmap` answers Postfix: a loopback
    /// `host:port`, or `unix:/path`.
    #[arg(long, default_value = "127.0.0.1:10027")]
    socketmap: String,
    /// Where `mailplane serve --dovecot-dict` answers Dovecot [default: OUT/dovecot-dict.sock].
    #[arg(long)]
    dovecot_dict: Option<PathBuf>,
    /// The address SMTP, submission and IMAP listen on (loopback unless TLS is given).
    #[arg(long, default_value = "127.0.0.1")]
    mail_listen: IpAddr,
    /// The host name Postfix greets with.
    #[arg(long, default_value = "mx.mailplane.example")]
    hostname: String,
    /// SMTP, for mail from the world.
    #[arg(long, default_value_t = 25)]
    smtp_port: u16,
    /// Submission, for the mailboxes' own mail clients.
    #[arg(long, default_value_t = 587)]
    submission_port: u16,
    /// IMAP.
    #[arg(long, default_value_t = 143)]
    imap_port: u16,
    /// LMTP from Postfix to Dovecot (loopback).
    #[arg(long, default_value_t = 24)]
    lmtp_port: u16,
    /// Dovecot's authentication for Postfix's SMTP AUTH (loopback).
    #[arg(long, default_value_t = 12345)]
    auth_port: u16,
    /// Dovecot's quota policy service for Postfix (loopback).
    #[arg(long, default_value_t = 12340)]
    quota_status_port: u16,
    /// Dovecot's doveadm HTTP API, driven by Mailplane's Dovecot data plane with the API
    /// key written beside the configuration.
    #[arg(long, default_value_t = 10080)]
    doveadm_port: u16,
    /// Dovecot's doveadm TCP listener, where other back ends' dsync connects when a tenant
    /// moves between regions (the doveadm password written beside the configuration must be
    /// the same on every back end).
    #[arg(long, default_value_t = 10081)]
    dsync_port: u16,
    /// The system user that owns the mailboxes' files (not root).
    #[arg(long, default_value = "vmail")]
    mail_user: String,
    /// Relay mail for other domains through this host (`[host]:port`) instead of DNS.
    #[arg(long)]
    relay_host: Option<String>,
    /// The TLS certificate chain (PEM); with --tls-key, SMTP, submission and IMAP use TLS
    /// and may listen beyond loopback.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The catalogue region whose mailboxes this Dovecot keeps: written to
    /// `OUT/mail-hosts.toml` for `mailplane serve --mail-hosts`.
    #[arg(long, default_value = "eu")]
    region: String,
}

/// Parses a socketmap address: `unix:/path` or a `host:port`.
pub fn socketmap_listen(value: &str) -> Result<SocketmapListen, String> {
    match value.strip_prefix("unix:") {
        Some(path) if path.starts_with('/') => Ok(SocketmapListen::Unix(path.into())),
        Some(_) => Err(format!(
            "postfix-socketmap: {value} must name an absolute path after unix:"
        )),
        None => value
            .parse::<SocketAddr>()
            .map(SocketmapListen::Tcp)
            .map_err(|e| {
                format!("postfix-socketmap: {value} is neither host:port nor unix:/path ({e})")
            }),
    }
}

/// The lookup settings of `serve`, or none when it answers no mail server.
pub fn serve_settings(
    socketmap: Option<&str>,
    dovecot_dict: Option<&PathBuf>,
    mode: &str,
) -> Result<Option<MailstackSettings>, String> {
    if socketmap.is_none() && dovecot_dict.is_none() {
        return Ok(None);
    }
    let socket_mode = u32::from_str_radix(mode, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| {
            format!("mailstack-socket-mode: {mode} must be octal permission bits, such as 660")
        })?;
    Ok(Some(MailstackSettings {
        socketmap: socketmap.map(socketmap_listen).transpose()?,
        dovecot_dict: dovecot_dict.cloned(),
        socket_mode,
    }))
}

/// Runs a mail stack command.
pub fn run(command: MailstackCommand) -> Result<(), String> {
    let MailstackCommand::Config(a) = command;
    let out = std::path::absolute(&a.out).map_err(|e| format!("out: {e}"))?;
    let config = MailstackConfig {
        socketmap: socketmap_listen(&a.socketmap)?,
        dovecot_dict: a
            .dovecot_dict
            .clone()
            .unwrap_or_else(|| out.join("dovecot-dict.sock")),
        state_dir: out.clone(),
        listen: a.mail_listen,
        hostname: a.hostname,
        smtp_port: a.smtp_port,
        submission_port: a.submission_port,
        imap_port: a.imap_port,
        lmtp_port: a.lmtp_port,
        auth_port: a.auth_port,
        quota_status_port: a.quota_status_port,
        doveadm_port: a.doveadm_port,
        dsync_port: a.dsync_port,
        mail_user: a.mail_user,
        relay_host: a.relay_host,
        tls: a.tls_cert.zip(a.tls_key),
    };
    let files = config.write().map_err(|e| match e {
        mailplane::types::Error::Invalid(fields) => fields
            .iter()
            .map(|f| {
                let flag = match f.field.as_str() {
                    "listen" => "mail-listen".to_owned(),
                    "state_dir" => "out".to_owned(),
                    other => other.replace('_', "-"),
                };
                format!("--{flag}: {}", f.rule)
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    })?;
    // The mail hosts file: this Dovecot as the back end of the region, for `serve`.
    let dovecot = config.dovecot_settings().map_err(|e| e.to_string())?;
    let mail_hosts = out.join("mail-hosts.toml");
    std::fs::write(
        &mail_hosts,
        format!(
            "# Written by `mailplane mailstack config`: the region whose mailboxes this Dovecot keeps.\n\
             # Give it to `mailplane serve --mail-hosts`; list more regions to add back ends.\n\
             [[regions]]\nregion = {:?}\n\n[regions.dovecot]\ndoveadm = {:?}\nimap = \"{}\"\n\
             lmtp = \"127.0.0.1:{}\"\n{}secrets = {:?}\nmail_root = {:?}\n",
            a.region,
            dovecot.doveadm_url,
            dovecot.imap,
            config.lmtp_port,
            dovecot
                .dsync
                .map(|d| format!("dsync = \"{d}\"\n"))
                .unwrap_or_default(),
            out.join("dovecot").display().to_string(),
            config.mail_root().display().to_string(),
        ),
    )
    .map_err(|e| format!("writing {}: {e}", mail_hosts.display()))?;
    println!("Wrote:");
    for f in files.iter().chain([&mail_hosts]) {
        println!("  {}", f.display());
    }
    let socketmap = match &config.socketmap {
        SocketmapListen::Tcp(addr) => addr.to_string(),
        SocketmapListen::Unix(path) => format!("unix:{}", path.display()),
    };
    println!();
    println!(
        "Start, in this order (each in the foreground; see the book's \"Running a mail stack\"):"
    );
    println!(
        "  mailplane serve --postfix-socketmap {socketmap} --dovecot-dict {} --mail-hosts {}",
        config.dovecot_dict.display(),
        mail_hosts.display()
    );
    println!("  dovecot -F -c {}", config.dovecot_config_file().display());
    println!(
        "  /usr/lib/postfix/sbin/master -d -c {}",
        config.postfix_config_dir().display()
    );
    Ok(())
}
