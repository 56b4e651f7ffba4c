//! What the benchmark's private Postfix and Dovecot share: a state folder they may work in,
//! a configuration on free loopback ports, and a server process that is stopped by its pid
//! when dropped.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailplane::mailstack::{MailstackConfig, SocketmapListen};

/// The system user that owns the mailboxes' files (Debian's `mail`).
const MAIL_USER: &str = "mail";

/// A state folder, removed when dropped.
pub(crate) struct StateDir(PathBuf);

impl StateDir {
    /// A fresh folder under the system's temporary folder, mode 0755: Postfix and Dovecot
    /// work as their own users under it.
    pub(crate) fn new(name: &str) -> Result<StateDir, String> {
        let dir = std::env::temp_dir().join(format!("mp-bench-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::set_permissions(
            &dir,
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
        )
        .map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(StateDir(dir))
    }

    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// A mail stack configuration in `state` on free loopback ports, asking the socketmap at
/// `socketmap` (or a free port when none) and the dict at `dict`, written to its files.
pub(crate) fn configuration(
    state: &Path,
    socketmap: Option<SocketAddr>,
    dict: PathBuf,
) -> Result<MailstackConfig, String> {
    configuration_beside(state, socketmap, dict, None)
}

/// Like [`configuration`], as another back end of the same deployment as `other`: its
/// doveadm password is copied from `other` before the configuration is written (which then
/// keeps it), so that dsync between the two signs in.
pub(crate) fn configuration_beside(
    state: &Path,
    socketmap: Option<SocketAddr>,
    dict: PathBuf,
    other: Option<&MailstackConfig>,
) -> Result<MailstackConfig, String> {
    let socketmap = match socketmap {
        Some(addr) => addr,
        None => SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?)),
    };
    let config = MailstackConfig {
        socketmap: SocketmapListen::Tcp(socketmap),
        dovecot_dict: dict,
        state_dir: state.to_path_buf(),
        listen: Ipv4Addr::LOCALHOST.into(),
        hostname: "mx.mailplane.test".into(),
        smtp_port: free_port()?,
        submission_port: free_port()?,
        imap_port: free_port()?,
        lmtp_port: free_port()?,
        auth_port: free_port()?,
        quota_status_port: free_port()?,
        doveadm_port: free_port()?,
        dsync_port: free_port()?,
        mail_user: MAIL_USER.into(),
        relay_host: None,
        tls: None,
    };
    if let Some(other) = other {
        let name = mailplane::mailstack::DOVEADM_PASSWORD;
        let from = other.dovecot_dir().join(name);
        let password = std::fs::read(&from).map_err(|e| format!("{}: {e}", from.display()))?;
        let dir = config.dovecot_dir();
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let to = dir.join(name);
        std::fs::write(&to, password)
            .and_then(|()| {
                std::fs::set_permissions(
                    &to,
                    <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
                )
            })
            .map_err(|e| format!("{}: {e}", to.display()))?;
    }
    config
        .write()
        .map_err(|e| format!("writing the mail stack's configuration: {e}"))?;
    Ok(config)
}

/// A running Postfix or Dovecot master; dropping it stops it (SIGTERM, then a kill after
/// five seconds). Each master takes its children with it.
pub(crate) struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts `program` with `args` in the foreground, logging to `log`, and waits until
    /// something listens on each of `ports` (up to 20 s).
    pub(crate) fn start(
        name: &'static str,
        program: &str,
        args: &[&std::ffi::OsStr],
        log: PathBuf,
        ports: &[u16],
    ) -> Result<Server, String> {
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {name}: {e}"))?;
        let mut server = Server { name, child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while ports
            .iter()
            .any(|p| TcpStream::connect((Ipv4Addr::LOCALHOST, *p)).is_err())
        {
            if Instant::now() > deadline || !matches!(server.child.try_wait(), Ok(None)) {
                return Err(server.failed(format!("{name} does not listen on {ports:?}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// `error` with the last lines of the server's log.
    pub(crate) fn failed(&self, error: String) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        format!("{error}; {}'s log:\n{tail}", self.name)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
