//! The floor: Postfix answering the same lookups from a static map of the same data, and
//! Postfix asking Mailplane, both through Postfix's own client.
//!
//! The routing data is exported to Postfix map files and compiled with `postmap` into the
//! `hash` type (Berkeley DB): this Postfix has no `lmdb` type (`postconf -m`), and `hash` is
//! the static map type every Postfix has. `postmap -q - <map>` reads keys from its standard
//! input and answers each in one process, so it measures lookups per second over many keys;
//! the same command against `socketmap:inet:127.0.0.1:<port>:<map>` asks Mailplane with the
//! same client code, which compares like with like. Several processes run at once, as
//! Postfix runs many. Latency inside `postmap` is not visible: the floor reports its rate
//! only, and both runs' answers are compared line by line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The map type of the floor.
pub const MAP_TYPE: &str = "hash";

/// What one `postmap -q -` run over a set of keys measured.
#[derive(Debug, Clone)]
pub struct PostmapRun {
    /// Keys asked, over every process.
    pub keys: usize,
    /// From starting the first process to the end of the last.
    pub elapsed: Duration,
    /// The answers (`key\tvalue` lines of the keys found), sorted.
    pub answers: Vec<String>,
}

impl PostmapRun {
    /// Lookups per second.
    pub fn rate(&self) -> f64 {
        self.keys as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The `postmap` binary, if Postfix is installed.
pub fn postmap() -> Option<PathBuf> {
    ["/usr/sbin/postmap", "/usr/local/sbin/postmap"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Writes `entries` as a Postfix map source in `dir` and compiles it into a `hash` map;
/// returns the map's name for `postmap -q` and how long compiling took.
pub fn build(
    postmap: &Path,
    dir: &Path,
    name: &str,
    entries: &[(String, String)],
) -> Result<(String, Duration), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let source = dir.join(name);
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&source).map_err(|e| format!("{}: {e}", source.display()))?,
    );
    for (key, value) in entries {
        writeln!(out, "{key} {value}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())?;
    drop(out);
    let map = format!("{MAP_TYPE}:{}", source.display());
    let started = Instant::now();
    let status = Command::new(postmap)
        .arg(&map)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("running postmap: {e}"))?;
    if !status.success() {
        return Err(format!("postmap {map} failed: {status}"));
    }
    let took = started.elapsed();
    // The source is not needed once compiled.
    std::fs::remove_file(&source).ok();
    Ok((map, took))
}

/// Runs `processes` `postmap -q - <map>` at once, the keys split between them, and
/// gathers their answers.
pub fn query(
    postmap: &Path,
    map: &str,
    keys: &[String],
    processes: usize,
) -> Result<PostmapRun, String> {
    let processes = processes.clamp(1, keys.len().max(1));
    let chunk = keys.len().div_ceil(processes).max(1);
    let inputs: Vec<Vec<u8>> = keys
        .chunks(chunk)
        .map(|part| {
            let mut input = part.join("\n").into_bytes();
            input.push(b'\n');
            input
        })
        .collect();
    let started = Instant::now();
    let mut children = Vec::new();
    for input in inputs {
        let mut child = Command::new(postmap)
            .args(["-q", "-", map])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("running postmap: {e}"))?;
        let mut stdin = child.stdin.take().ok_or("postmap has no stdin")?;
        // A thread per process feeds its keys, so that no pipe fills while another waits.
        let feeder = std::thread::spawn(move || stdin.write_all(&input));
        children.push((child, feeder));
    }
    let mut answers = Vec::new();
    for (child, feeder) in children {
        let output = child
            .wait_with_output()
            .map_err(|e| format!("waiting for postmap: {e}"))?;
        feeder
            .join()
            .map_err(|_| "a feeder thread panicked")?
            .map_err(|e| format!("writing keys to postmap: {e}"))?;
        // Exit status 1 means "some key was not found", which is expected.
        if !matches!(output.status.code(), Some(0 | 1)) {
            return Err(format!(
                "postmap -q - {map} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        if let Some(line) = stderr
            .lines()
            .find(|l| l.contains("fatal") || l.contains("error"))
        {
            return Err(format!("postmap -q - {map}: {line}"));
        }
        answers.extend(
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(str::to_owned),
        );
    }
    let elapsed = started.elapsed();
    answers.sort_unstable();
    Ok(PostmapRun {
        keys: keys.len(),
        elapsed,
        answers,
    })
}

/// How many answers of two runs differ (lines in one and not the other).
pub fn differences(a: &[String], b: &[String]) -> usize {
    let (mut i, mut j, mut diff) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                diff += 1;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                diff += 1;
                j += 1;
            }
        }
    }
    diff + (a.len() - i) + (b.len() - j)
}

#[cfg(test)]
mod tests {
    use super::differences;

    #[test]
    fn differences_count_lines_in_one_run_only() {
        let a: Vec<String> = ["a\t1", "b\t2", "c\t3"].map(String::from).to_vec();
        let b: Vec<String> = ["a\t1", "b\t9", "c\t3", "d\t4"].map(String::from).to_vec();
        assert_eq!(differences(&a, &a), 0);
        assert_eq!(differences(&a, &b), 3);
        assert_eq!(differences(&[], &b), 4);
    }
}
