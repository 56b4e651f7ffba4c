//! What the process tests share: the real `mailplane` binary started with nothing of the
//! caller's environment, and the wait until it prints the address it serves on.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// `mailplane serve`, with every `MAILPLANE_*` variable of the caller's environment removed,
/// so that only the arguments the test adds configure the server under test.
pub fn serve_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailplane"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MAILPLANE_") {
            cmd.env_remove(&key);
        }
    }
    cmd.arg("serve");
    cmd
}

/// Waits until the server `child`, whose standard output goes to `stdout`, prints the
/// address it serves on, and returns it. Panics, naming the server, when it exits first or
/// does not serve by `deadline` (it is then killed).
pub fn serving_address(
    child: &mut Child,
    stdout: &Path,
    name: &str,
    deadline: Instant,
) -> SocketAddr {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{name} exited ({status}) before serving");
        }
        let out = std::fs::read_to_string(stdout).unwrap_or_default();
        if let Some(addr) = out
            .split("serving on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
        {
            return addr;
        }
        if Instant::now() >= deadline {
            // The test stops what it started, also when it gives up on it.
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} did not start in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
