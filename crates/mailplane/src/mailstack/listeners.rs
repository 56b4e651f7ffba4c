//! The sockets the mail servers ask their lookups on, and the tasks that answer them.
//!
//! The lookups carry no secret, so they are reachable only locally: Postfix's socketmap on a
//! loopback TCP port or a Unix socket, Dovecot's dict on a Unix socket (the only transport
//! Dovecot's dict client has). A Unix socket is made with the mode the settings give, so
//! that only the mail servers' users reach it. Stopping the server (or dropping it) closes
//! every socket and connection at once: the mail servers then answer "try again later".

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mailplane_types::{Error, Result};
use tokio::net::{TcpListener, UnixListener};
use tokio::task::{JoinHandle, JoinSet};

use super::{MailLookups, dict, socketmap};

/// Where Postfix's socketmap lookups are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketmapListen {
    /// A TCP port on a loopback address (`socketmap:inet:127.0.0.1:PORT:<map>`).
    Tcp(SocketAddr),
    /// A Unix socket (`socketmap:unix:PATH:<map>`).
    Unix(PathBuf),
}

/// Which lookups to serve, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailstackSettings {
    /// Postfix's socketmap, if served.
    pub socketmap: Option<SocketmapListen>,
    /// The Unix socket of Dovecot's dict, if served.
    pub dovecot_dict: Option<PathBuf>,
    /// The permission bits of the Unix sockets (0o660 by default: their owner and group).
    pub socket_mode: u32,
}

impl Default for MailstackSettings {
    fn default() -> Self {
        MailstackSettings {
            socketmap: None,
            dovecot_dict: None,
            socket_mode: 0o660,
        }
    }
}

/// The running lookup servers. Dropping it stops them.
pub struct MailstackServer {
    tasks: Vec<JoinHandle<()>>,
    sockets: Vec<PathBuf>,
    socketmap_addr: Option<SocketAddr>,
}

impl MailstackServer {
    /// Binds every configured socket and starts answering. Fails, binding nothing, when a
    /// TCP address is not loopback or a socket cannot be bound.
    pub async fn start(lookups: MailLookups, settings: &MailstackSettings) -> Result<Self> {
        let mut server = MailstackServer {
            tasks: Vec::new(),
            sockets: Vec::new(),
            socketmap_addr: None,
        };
        match &settings.socketmap {
            Some(SocketmapListen::Tcp(addr)) => {
                if !addr.ip().is_loopback() {
                    return Err(Error::invalid(
                        "socketmap",
                        format!(
                            "{addr} is not a loopback address: the lookups carry no secret, so they are served on loopback or a Unix socket only"
                        ),
                    ));
                }
                let listener = TcpListener::bind(addr).await.map_err(|e| {
                    Error::invalid("socketmap", format!("cannot listen on {addr}: {e}"))
                })?;
                server.socketmap_addr = listener.local_addr().ok();
                let lookups = lookups.clone();
                server.tasks.push(serve_each(listener, move |stream| {
                    socketmap::serve(lookups.clone(), stream)
                }));
            }
            Some(SocketmapListen::Unix(path)) => {
                let listener = server.bind_unix("socketmap", path, settings.socket_mode)?;
                let lookups = lookups.clone();
                server.tasks.push(serve_each(listener, move |stream| {
                    socketmap::serve(lookups.clone(), stream)
                }));
            }
            None => {}
        }
        if let Some(path) = &settings.dovecot_dict {
            let listener = server.bind_unix("dovecot_dict", path, settings.socket_mode)?;
            server.tasks.push(serve_each(listener, move |stream| {
                dict::serve(lookups.clone(), stream)
            }));
        }
        Ok(server)
    }

    /// The TCP address the socketmap listens on (its port when the settings asked for 0).
    pub fn socketmap_addr(&self) -> Option<SocketAddr> {
        self.socketmap_addr
    }

    /// Stops answering: closes the listeners and every open connection, and removes the
    /// Unix sockets.
    pub fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            // Aborting an accept loop drops its set of connections, which aborts them too.
            task.abort();
        }
        for path in self.sockets.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Binds a Unix socket at `path`, replacing a stale socket left by a process that died,
    /// and gives it `mode`.
    fn bind_unix(&mut self, field: &str, path: &Path, mode: u32) -> Result<UnixListener> {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(Error::invalid(
                    field,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(Error::invalid(
                    field,
                    format!("{} is served by another process", path.display()),
                ));
            }
            let _ = std::fs::remove_file(path);
        }
        let listener = UnixListener::bind(path).map_err(|e| {
            Error::invalid(field, format!("cannot listen on {}: {e}", path.display()))
        })?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
            Error::invalid(
                field,
                format!("cannot set the mode of {}: {e}", path.display()),
            )
        })?;
        self.sockets.push(path.to_path_buf());
        Ok(listener)
    }
}

/// A listener of either transport, as [`serve_each`] uses it.
trait Accept: Send + 'static {
    type Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static;
    fn accept_one(&self) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Accept for TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept_one(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

impl Accept for UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept_one(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

/// Accepts connections until the listener fails, serving each in a task of its own. The
/// tasks live in a set owned by the accepting task, so aborting it aborts them all.
fn serve_each<L, F, Fut>(listener: L, serve: F) -> JoinHandle<()>
where
    L: Accept,
    F: Fn(L::Stream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok(stream) = listener.accept_one().await {
            connections.spawn(serve(stream));
            while connections.try_join_next().is_some() {}
        }
    })
}

impl Drop for MailstackServer {
    fn drop(&mut self) {
        self.stop();
    }
}
