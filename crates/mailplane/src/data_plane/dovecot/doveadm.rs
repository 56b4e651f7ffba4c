//! A client of Dovecot's doveadm HTTP API (`POST /doveadm/v1`), the way Mailplane's Dovecot
//! data plane manages a mailbox's keys, counts its messages, finds them and deletes them.
//!
//! Each request carries one command: Dovecot drops the partial output of a failed command
//! and, with `doveadm_port` set, fails every command of a batch after the first, so one
//! command per request keeps every answer whole. Dovecot's doveadm process dies on some
//! malformed parameters (an array where it wants a string, an unknown fetch field, a date it
//! cannot parse) and the client then sees the connection close: every parameter this module
//! sends is built here from typed values, never from a caller's text. A closed connection, a
//! timeout or Dovecot's temporary failure (exit code 75) is [`Error::Unavailable`], so the
//! job step that asked is tried again later.

use std::time::Duration;

use serde_json::{Value, json};

use mailplane_types::{Error, Result};

/// doveadm's exit codes that this client tells apart (`doveadm-mail.c`, `sysexits.h`).
const EXIT_NO_USER: i64 = 67;
const EXIT_NOT_FOUND: i64 = 68;
const EXIT_TEMPORARY: i64 = 75;

/// A failed command: Dovecot's exit code, or the kind of error it named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failure {
    /// The user is unknown to Dovecot's userdb (67).
    NoUser,
    /// The mailbox (folder) does not exist (68).
    NotFound,
    /// Another exit code.
    Exit(i64),
    /// An error of another type (`unknownMethod`, `invalidRequest`, ...).
    Other(String),
}

/// The doveadm HTTP API of one Dovecot.
#[derive(Clone)]
pub(super) struct Doveadm {
    http: reqwest::Client,
    url: String,
    authorization: String,
}

impl std::fmt::Debug for Doveadm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Doveadm")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Doveadm {
    /// The API at `base` (`http://host:port`), authenticated with `api_key`.
    pub(super) fn new(base: &str, api_key: &str, timeout: Duration) -> Result<Doveadm> {
        use base64::Engine;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::internal(format!("building the doveadm client: {e}")))?;
        Ok(Doveadm {
            http,
            url: format!("{}/doveadm/v1", base.trim_end_matches('/')),
            authorization: format!(
                "X-Dovecot-API {}",
                base64::engine::general_purpose::STANDARD.encode(api_key)
            ),
        })
    }

    /// Runs one command; its rows on success, the failure Dovecot named otherwise. A
    /// transport failure or a temporary one is an error.
    pub(super) async fn run(
        &self,
        command: &str,
        parameters: Value,
    ) -> Result<std::result::Result<Vec<Value>, Failure>> {
        let unavailable = |why: String| {
            Error::Unavailable(format!("Dovecot's doveadm API ({}): {why}", self.url))
        };
        let body = json!([[command, parameters, "c"]]);
        let response = self
            .http
            .post(&self.url)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| unavailable(format!("{command}: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| unavailable(format!("{command}: reading the answer: {e}")))?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(unavailable(
                "the API key was refused: check doveadm_api_key against Mailplane's".into(),
            ));
        }
        if !status.is_success() {
            return Err(unavailable(format!("{command}: HTTP {status}: {text}")));
        }
        let answer: Value = serde_json::from_str(&text).map_err(|e| {
            Error::internal(format!(
                "doveadm answered {command} with no JSON ({e}): {text}"
            ))
        })?;
        let reply = answer
            .get(0)
            .and_then(Value::as_array)
            .ok_or_else(|| Error::internal(format!("doveadm answered {command} with {text}")))?;
        match reply.first().and_then(Value::as_str) {
            Some("doveadmResponse") => Ok(Ok(reply
                .get(1)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default())),
            Some("error") => {
                let error = reply.get(1).cloned().unwrap_or(Value::Null);
                let kind = error.get("type").and_then(Value::as_str).unwrap_or("");
                let code = error.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
                Ok(Err(match (kind, code) {
                    ("exitCode", EXIT_TEMPORARY) => {
                        return Err(unavailable(format!(
                            "{command} failed for now (exit code 75); Dovecot's log says why"
                        )));
                    }
                    ("exitCode", EXIT_NO_USER) => Failure::NoUser,
                    ("exitCode", EXIT_NOT_FOUND) => Failure::NotFound,
                    ("exitCode", code) => Failure::Exit(code),
                    (kind, _) => Failure::Other(kind.to_owned()),
                }))
            }
            _ => Err(Error::internal(format!(
                "doveadm answered {command} with {text}"
            ))),
        }
    }

    /// Runs a command that must succeed.
    pub(super) async fn rows(&self, command: &str, parameters: Value) -> Result<Vec<Value>> {
        self.run(command, parameters)
            .await?
            .map_err(|f| Error::internal(format!("doveadm {command} failed: {f:?}")))
    }
}

/// A row's field as text (doveadm answers every value as a string).
pub(super) fn field<'a>(row: &'a Value, name: &str) -> Result<&'a str> {
    row.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::internal(format!("doveadm answered a row without `{name}`: {row}")))
}

/// A row's numeric field.
pub(super) fn number(row: &Value, name: &str) -> Result<u64> {
    field(row, name)?.parse().map_err(|_| {
        Error::internal(format!(
            "doveadm answered `{name}` that is no number: {row}"
        ))
    })
}
