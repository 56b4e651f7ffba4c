//! A real Postfix and a real Dovecot for one test, configured by Mailplane's own
//! configuration writer and asking their lookups of the test's control plane.
//!
//! Each [`MailStack`] runs private instances on loopback: every port free at start, every
//! file in a folder of its own, Postfix's master and Dovecot's master started as children
//! of the test and stopped by their pids when it ends. Mail for other domains is relayed to
//! an [`SmtpSink`] on loopback, never to the internet. Without Postfix and Dovecot installed
//! the mail tests are skipped (also when not run as root), except under CI, where they must
//! run.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailplane::mailstack::{MailstackConfig, MailstackServer, MailstackSettings, SocketmapListen};

use crate::Harness;
use crate::mail_clients::SmtpSink;

/// Postfix's master daemon.
const POSTFIX_MASTER: &str = "/usr/lib/postfix/sbin/master";
/// Dovecot's master.
const DOVECOT: &str = "/usr/sbin/dovecot";
/// The system user that owns the mailboxes' files in tests (Debian's `mail`).
const MAIL_USER: &str = "mail";

/// A running Postfix and Dovecot, and the lookups they ask.
pub struct MailStack {
    /// The configuration both run with.
    pub config: MailstackConfig,
    /// Where Postfix relays mail for other domains.
    pub sink: SmtpSink,
    lookups: Option<MailstackServer>,
    settings: MailstackSettings,
    /// Whose lookups the stack's own listeners answer; `None` when another process (a
    /// `mailplane serve`) answers them.
    control_plane: Option<mailplane::ControlPlane>,
    postfix: Child,
    dovecot: Child,
}

/// Whether the mail stack's programs are installed and the test runs as root (which starting
/// Postfix and Dovecot and giving their folders to their users takes).
fn available() -> bool {
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    root && std::path::Path::new(POSTFIX_MASTER).exists() && std::path::Path::new(DOVECOT).exists()
}

/// `N` ports free at once, all different: each listener is held until every one is bound
/// (ports taken one at a time may come back twice).
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("a free port").port())
}

impl MailStack {
    /// Starts Postfix and Dovecot for `h`, or `None` (the test is skipped) when they are not
    /// installed and CI is not set.
    pub async fn start(h: &Harness) -> Option<MailStack> {
        MailStack::start_with(h, &[]).await
    }

    /// Like [`MailStack::start`], with lines added to Postfix's `main.cf`.
    pub async fn start_with(h: &Harness, postfix_extra: &[&str]) -> Option<MailStack> {
        MailStack::start_for(&h.control_plane, postfix_extra).await
    }

    /// Like [`MailStack::start`], as another back end of the same deployment as `other`:
    /// both share the doveadm password, so that dsync between them (a relocation) signs in.
    pub async fn start_beside(h: &Harness, other: &MailStack) -> Option<MailStack> {
        MailStack::start_asking(Some(h.control_plane.clone()), &[], Some(other)).await
    }

    /// Whether a mail stack can run here: `false` (the test is skipped, and says so) when
    /// Postfix or Dovecot is not installed or the test does not run as root, except under
    /// CI, where that fails the test.
    pub fn runs() -> bool {
        if !available() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but Postfix or Dovecot is not installed, or the tests do not run as root: the mail tests would be skipped"
            );
            eprintln!("Postfix or Dovecot is not installed, or not root: mail test skipped");
            return false;
        }
        true
    }

    /// Like [`MailStack::start_with`], asking its lookups of `control_plane`.
    pub async fn start_for(
        control_plane: &mailplane::ControlPlane,
        postfix_extra: &[&str],
    ) -> Option<MailStack> {
        MailStack::start_asking(Some(control_plane.clone()), postfix_extra, None).await
    }

    /// A mail stack whose lookups nobody answers yet: a `mailplane serve` started with
    /// [`MailStack::serve_args`] answers them.
    pub async fn start_unanswered() -> Option<MailStack> {
        MailStack::start_asking(None, &[], None).await
    }

    async fn start_asking(
        control_plane: Option<mailplane::ControlPlane>,
        postfix_extra: &[&str],
        share_with: Option<&MailStack>,
    ) -> Option<MailStack> {
        if !MailStack::runs() {
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "mp-mail-{}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        ));
        std::fs::create_dir_all(&dir).expect("state dir");
        let sink = SmtpSink::start().await;
        // The lookups listen first, on a port the system picks, and the configuration names
        // it: a port found free and then released could be taken by another test meanwhile.
        // The servers' ports are found while that listener holds its own.
        let dict = dir.join("dict.sock");
        let lookups = match &control_plane {
            Some(c) => Some(
                MailstackServer::start(
                    c.mail_lookups(),
                    &MailstackSettings {
                        socketmap: Some(SocketmapListen::Tcp((Ipv4Addr::LOCALHOST, 0).into())),
                        dovecot_dict: Some(dict.clone()),
                        socket_mode: 0o660,
                    },
                )
                .await
                .expect("serve the lookups"),
            ),
            None => None,
        };
        let [
            free_socketmap,
            smtp,
            submission,
            imap,
            lmtp,
            auth,
            quota_status,
            doveadm,
            dsync,
        ] = free_ports();
        let socketmap = match &lookups {
            Some(server) => server.socketmap_addr().expect("the socketmap's address"),
            None => SocketAddr::from((Ipv4Addr::LOCALHOST, free_socketmap)),
        };
        let config = MailstackConfig {
            socketmap: SocketmapListen::Tcp(socketmap),
            dovecot_dict: dict,
            state_dir: dir.clone(),
            listen: Ipv4Addr::LOCALHOST.into(),
            hostname: "mx.mailplane.test".into(),
            smtp_port: smtp,
            submission_port: submission,
            imap_port: imap,
            lmtp_port: lmtp,
            auth_port: auth,
            quota_status_port: quota_status,
            doveadm_port: doveadm,
            dsync_port: dsync,
            mail_user: MAIL_USER.into(),
            relay_host: Some(format!("[127.0.0.1]:{}", sink.addr.port())),
            tls: None,
        };
        if let Some(other) = share_with {
            let name = mailplane::mailstack::DOVEADM_PASSWORD;
            let password = std::fs::read(other.config.dovecot_dir().join(name))
                .expect("the other back end's doveadm password");
            std::fs::create_dir_all(config.dovecot_dir()).expect("Dovecot's folder");
            std::fs::write(config.dovecot_dir().join(name), password).expect("doveadm password");
        }
        config
            .write()
            .expect("write the mail stack's configuration");
        if !postfix_extra.is_empty() {
            let main_cf = config.postfix_config_dir().join("main.cf");
            let mut text = std::fs::read_to_string(&main_cf).expect("main.cf");
            for line in postfix_extra {
                text.push_str(line);
                text.push('\n');
            }
            std::fs::write(&main_cf, text).expect("main.cf");
        }
        // Postfix reads a main.cf changed within the last second only once it has "cooled
        // down", polling every 300 ms: dated a minute back, it is read at once (two seconds
        // less for every stack).
        std::fs::File::options()
            .write(true)
            .open(config.postfix_config_dir().join("main.cf"))
            .and_then(|f| f.set_modified(std::time::SystemTime::now() - Duration::from_secs(60)))
            .expect("date main.cf back");
        let settings = MailstackSettings {
            socketmap: Some(config.socketmap.clone()),
            dovecot_dict: Some(config.dovecot_dict.clone()),
            // Dovecot asks from its auth worker, which runs as root: the default mode serves.
            socket_mode: 0o660,
        };
        let conf = config.postfix_config_dir();
        let postfix = Command::new(POSTFIX_MASTER)
            .arg("-c")
            .arg(&conf)
            .arg("-d")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Postfix");
        let dovecot = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(config.dovecot_config_file())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Dovecot");
        let stack = MailStack {
            config,
            sink,
            lookups,
            settings,
            control_plane,
            postfix,
            dovecot,
        };
        for port in [
            stack.config.smtp_port,
            stack.config.imap_port,
            stack.config.lmtp_port,
            stack.config.doveadm_port,
            stack.config.dsync_port,
        ] {
            stack.wait_listening(port).await;
        }
        Some(stack)
    }

    async fn wait_listening(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "nothing listens on port {port}; logs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A data plane over this Dovecot, with the tenants' data keys of the harness's own
    /// (the keys the lookups derive each mailbox's storage password from).
    pub fn dovecot_data_plane(
        &self,
        h: &crate::Harness,
    ) -> mailplane::data_plane::DovecotDataPlane {
        let files = mailplane::data_plane::FileDataPlane::open(
            &h.mail_dir.join("mail"),
            &h.mail_dir.join("master.key"),
        )
        .expect("the harness's data plane");
        mailplane::data_plane::DovecotDataPlane::new(
            files.keys().clone(),
            self.config.dovecot_settings().expect("Dovecot's settings"),
        )
        .expect("the Dovecot data plane")
    }

    /// The SMTP port for incoming mail.
    pub fn smtp(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.config.smtp_port).into()
    }

    /// The submission port.
    pub fn submission(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.config.submission_port).into()
    }

    /// The IMAP port.
    pub fn imap(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.config.imap_port).into()
    }

    /// The mail hosts file's content for this Dovecot as the back end of `region`.
    pub fn mail_hosts(&self, region: &str) -> mailplane::data_plane::MailHosts {
        mailplane::data_plane::MailHosts {
            regions: vec![mailplane::data_plane::RegionMailHost {
                region: region.into(),
                dovecot: Some(self.dovecot_host(None)),
                backends: vec![],
            }],
        }
    }

    /// This Dovecot as a back end of a mail hosts file, named `name` (a region's one
    /// back end needs no name).
    pub fn dovecot_host(&self, name: Option<&str>) -> mailplane::data_plane::DovecotHost {
        mailplane::data_plane::DovecotHost {
            name: name.map(str::to_owned),
            draining: false,
            doveadm: format!("http://127.0.0.1:{}", self.config.doveadm_port),
            imap: self.imap(),
            lmtp: (Ipv4Addr::LOCALHOST, self.config.lmtp_port).into(),
            dsync: Some((Ipv4Addr::LOCALHOST, self.config.dsync_port).into()),
            secrets: self.config.state_dir.join("dovecot"),
            mail_root: Some(self.config.mail_root()),
            timeout_seconds: 30,
        }
    }

    /// The arguments of a `mailplane serve` that answers this stack's lookups, with the mail
    /// hosts file at `mail_hosts_file` (written here) making this Dovecot the back end of
    /// `region`.
    pub fn serve_args(&self, region: &str, mail_hosts_file: &std::path::Path) -> Vec<String> {
        let hosts = self.mail_hosts(region);
        let mut toml = String::new();
        for r in &hosts.regions {
            let d = r.dovecot.as_ref().expect("one back end");
            toml.push_str(&format!(
                "[[regions]]\nregion = \"{}\"\n[regions.dovecot]\ndoveadm = \"{}\"\nimap = \"{}\"\nlmtp = \"{}\"\nsecrets = \"{}\"\n",
                r.region,
                d.doveadm,
                d.imap,
                d.lmtp,
                d.secrets.display()
            ));
            if let Some(root) = &d.mail_root {
                toml.push_str(&format!("mail_root = \"{}\"\n", root.display()));
            }
            if let Some(dsync) = &d.dsync {
                toml.push_str(&format!("dsync = \"{dsync}\"\n"));
            }
        }
        std::fs::write(mail_hosts_file, toml).expect("write the mail hosts file");
        let socketmap = match &self.config.socketmap {
            SocketmapListen::Tcp(addr) => addr.to_string(),
            SocketmapListen::Unix(path) => format!("unix:{}", path.display()),
        };
        vec![
            "--mail-hosts".into(),
            mail_hosts_file.display().to_string(),
            "--postfix-socketmap".into(),
            socketmap,
            "--dovecot-dict".into(),
            self.config.dovecot_dict.display().to_string(),
        ]
    }

    /// Answers the lookups from `control_plane` from now on (for example, the harness's
    /// with mail hosts).
    pub async fn serve_lookups_from(&mut self, control_plane: mailplane::ControlPlane) {
        self.stop_lookups();
        self.control_plane = Some(control_plane);
        self.start_lookups().await;
    }

    /// Stops answering lookups, as a stopped Mailplane would.
    pub fn stop_lookups(&mut self) {
        if let Some(mut l) = self.lookups.take() {
            l.stop();
        }
    }

    /// Answers lookups again, on the same sockets.
    pub async fn start_lookups(&mut self) {
        // A stopped server's accept loops are aborted, and release their sockets a moment
        // later.
        let deadline = Instant::now() + Duration::from_secs(5);
        let control_plane = self
            .control_plane
            .clone()
            .expect("a mail stack whose lookups another process answers");
        loop {
            match MailstackServer::start(control_plane.mail_lookups(), &self.settings).await {
                Ok(server) => {
                    self.lookups = Some(server);
                    return;
                }
                Err(e) if Instant::now() < deadline && e.to_string().contains("in use") => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("serve the lookups again: {e:?}"),
            }
        }
    }

    /// Asks Postfix to try every queued message now.
    pub fn flush(&self) {
        let out = Command::new("/usr/sbin/postqueue")
            .arg("-c")
            .arg(self.config.postfix_config_dir())
            .arg("-f")
            .output()
            .expect("postqueue -f");
        assert!(out.status.success(), "postqueue -f: {out:?}");
    }

    /// Both servers' logs, for a failing assertion's message.
    pub fn logs(&self) -> String {
        let read = |p: PathBuf| {
            std::fs::read_to_string(&p).unwrap_or_else(|e| format!("{}: {e}", p.display()))
        };
        format!(
            "--- postfix\n{}\n--- dovecot\n{}",
            read(self.config.postfix_log()),
            read(self.config.dovecot_log())
        )
    }

    /// Waits until `check` holds, up to ten seconds, then fails with the logs.
    pub async fn eventually<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check().await {
            assert!(Instant::now() < deadline, "{what}; logs:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for MailStack {
    fn drop(&mut self) {
        // Each master takes its children with it when asked to stop (SIGTERM), which takes
        // each about a second: both are asked at once. One that does not stop within five
        // seconds is killed.
        for child in [&self.postfix, &self.dovecot] {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for child in [&mut self.postfix, &mut self.dovecot] {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stop_lookups();
        if std::env::var_os("MAILPLANE_KEEP_MAILSTACK").is_none() {
            let _ = std::fs::remove_dir_all(&self.config.state_dir);
        }
    }
}
