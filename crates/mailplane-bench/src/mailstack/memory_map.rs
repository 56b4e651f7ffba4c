//! A reference between the floor and Mailplane: a socketmap server that answers from hash
//! maps in memory, on the same runtime and the same kind of socket as Mailplane's.
//!
//! Its rate is what the socketmap protocol itself allows (a netstring each way over
//! loopback TCP, Postfix's client, a Tokio task per connection) with no lookup cost at all,
//! so the distance from it to the `hash` map is the protocol's, and the distance from
//! Mailplane to it is Mailplane's own.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The maps, by name, each from key to value.
pub type Maps = HashMap<&'static str, HashMap<String, String>>;

/// The running server; dropping it stops it.
pub struct MemoryMaps {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for MemoryMaps {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts answering `maps` on a loopback port.
pub async fn start(maps: Maps) -> Result<MemoryMaps, String> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let maps = Arc::new(maps);
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            connections.spawn(serve(maps.clone(), stream));
            while connections.try_join_next().is_some() {}
        }
    });
    Ok(MemoryMaps { addr, task })
}

/// Answers one connection's netstrings until it closes or sends something else.
async fn serve(maps: Arc<Maps>, stream: TcpStream) {
    stream.set_nodelay(true).ok();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut digits = Vec::new();
    loop {
        digits.clear();
        if !matches!(read.read_until(b':', &mut digits).await, Ok(n) if n > 1) {
            return;
        }
        let Some(len) = std::str::from_utf8(&digits[..digits.len() - 1])
            .ok()
            .and_then(|d| d.parse::<usize>().ok())
        else {
            return;
        };
        let mut body = vec![0; len + 1];
        if read.read_exact(&mut body).await.is_err() || body.pop() != Some(b',') {
            return;
        }
        let request = String::from_utf8_lossy(&body);
        let found = request
            .split_once(' ')
            .and_then(|(map, key)| maps.get(map)?.get(key));
        let reply = match found {
            Some(value) => format!("OK {value}"),
            None => "NOTFOUND ".to_owned(),
        };
        let framed = format!("{}:{reply},", reply.len());
        if write.write_all(framed.as_bytes()).await.is_err() {
            return;
        }
    }
}
