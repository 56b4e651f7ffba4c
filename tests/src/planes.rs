//! The data planes a harness runs on: the embedded file store, or a real Dovecot (with its
//! Postfix) as the mail host of the default region, so that one test body runs on both
//! ([`crate::e2e_stores`]). The few checks that look at files at rest ask the harness where
//! the plane keeps them instead of naming the file store's folders.

use std::path::PathBuf;

use mailplane::ControlPlane;
use mailplane::data_plane::{RegionalDataPlane, TenantKeys};
use mailplane::types::TenantId;

use crate::Harness;
use crate::mailstack::MailStack;

/// The catalogue's default region, where the harness's tenants are placed.
pub const DEFAULT_REGION: &str = "eu";

/// Which data plane holds the default region's mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// The embedded file store (`FileDataPlane`).
    Files,
    /// A real Dovecot, which a real Postfix delivers to, as the region's mail host.
    Dovecot,
}

impl Plane {
    /// Whether this data plane can run here; see [`MailStack::runs`].
    pub fn runs(self) -> bool {
        match self {
            Plane::Files => true,
            Plane::Dovecot => MailStack::runs(),
        }
    }
}

/// Starts a mail stack and makes it the mail host of the default region of `control_plane`,
/// whose file store holds the tenants' data keys `keys`; the stack's lookups are answered by
/// the control plane returned.
pub(crate) async fn on_dovecot(
    control_plane: ControlPlane,
    keys: &TenantKeys,
) -> Option<(ControlPlane, MailStack)> {
    let mut stack = MailStack::start_for(&control_plane, &[]).await?;
    let control_plane = control_plane
        .with_mail_hosts(&stack.mail_hosts(DEFAULT_REGION), keys)
        .expect("mail hosts");
    stack.serve_lookups_from(control_plane.clone()).await;
    Some((control_plane, stack))
}

impl Harness {
    /// The control plane's data planes, by region.
    pub fn data_plane(&self) -> &RegionalDataPlane {
        self.control_plane
            .data_planes()
            .expect("the harness sets a data plane")
    }

    /// The mail stack of a harness on Dovecot.
    pub fn stack(&self) -> &MailStack {
        self.mail_stack
            .as_ref()
            .expect("a harness on Dovecot has a mail stack")
    }

    /// Where the data plane keeps a tenant's mail: its folder in the file store, or its
    /// mailboxes' homes under Dovecot's mail root.
    pub fn tenant_files(&self, tenant: TenantId) -> PathBuf {
        match self.plane {
            Plane::Files => self.mail_dir.join("mail"),
            Plane::Dovecot => self.stack().config.mail_root(),
        }
        .join(tenant.to_string())
    }

    /// Where the data plane keeps a mailbox's mail.
    pub fn mailbox_files(&self, tenant: TenantId, mailbox: &str) -> PathBuf {
        self.tenant_files(tenant).join(mailbox)
    }

    /// The tenant's wrapped data key, whichever plane holds its mail (every data plane of a
    /// deployment shares the file store's keys).
    pub fn data_key_file(&self, tenant: TenantId) -> PathBuf {
        self.mail_dir
            .join("mail")
            .join(tenant.to_string())
            .join("data.key")
    }

    /// Every folder where something of the tenants' mail may rest: the data directory
    /// (keys, files, exports) and, on Dovecot, its mail root and its own secrets.
    pub fn folders_at_rest(&self) -> Vec<PathBuf> {
        let mut folders = vec![self.mail_dir.clone()];
        if let Some(stack) = &self.mail_stack {
            folders.push(stack.config.mail_root());
            folders.push(stack.config.state_dir.join("dovecot"));
        }
        folders
    }
}

/// Every regular file under `folders` (sockets and FIFOs hold nothing at rest, and reading a
/// FIFO would block), with its bytes.
pub fn files_under(folders: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut todo = folders.to_vec();
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file()
                && let Ok(bytes) = std::fs::read(entry.path())
            {
                files.push((entry.path(), bytes));
            }
        }
    }
    files
}

/// The files under `folders` whose bytes hold `needle`.
pub fn files_holding(folders: &[PathBuf], needle: &[u8]) -> Vec<String> {
    files_under(folders)
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
        .map(|(path, _)| path.display().to_string())
        .collect()
}

/// Runs a lifecycle test on every database and data plane: `sqlite_files`,
/// `postgres_files`, `sqlite_dovecot` and `postgres_dovecot`; with `dovecot_only`, for a
/// test of mail that arrives over SMTP, the last two. The PostgreSQL runs need
/// `MAILPLANE_TEST_DATABASE_URL` and the Dovecot runs a mail stack ([`MailStack::runs`]);
/// without them they are skipped and say so, except under CI, where they fail.
#[macro_export]
macro_rules! e2e_stores {
    ($name:ident, dovecot_only) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_dovecot() {
                if let Some(h) = $crate::Harness::sqlite_on($crate::Plane::Dovecot).await {
                    super::$name(h).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_dovecot() {
                if let Some(h) = $crate::postgres_or_skip($crate::Plane::Dovecot).await {
                    super::$name(h).await;
                }
            }
        }
    };
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_files() {
                super::$name($crate::Harness::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_files() {
                if let Some(h) = $crate::postgres_or_skip($crate::Plane::Files).await {
                    super::$name(h).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_dovecot() {
                if let Some(h) = $crate::Harness::sqlite_on($crate::Plane::Dovecot).await {
                    super::$name(h).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_dovecot() {
                if let Some(h) = $crate::postgres_or_skip($crate::Plane::Dovecot).await {
                    super::$name(h).await;
                }
            }
        }
    };
}
