//! Webhook signatures: how Mailplane signs a delivery and how a receiver checks it.
//!
//! Every delivery carries `Mailplane-Signature: t=<unix seconds>,v1=<hex>`, where the hex
//! is HMAC-SHA256, keyed with the webhook's secret, over `<t>.<body>`. A receiver recomputes
//! it over the raw body, compares in constant time, and refuses a timestamp outside its
//! replay window (five minutes is the advice), so that a captured delivery cannot be
//! replayed later. [`verify_signature`] does all of that for Rust receivers.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "mailplane-signature";
/// The header that carries the event's id; receivers deduplicate on it.
pub const EVENT_HEADER: &str = "mailplane-event";
/// The header that carries the delivery's id.
pub const DELIVERY_HEADER: &str = "mailplane-delivery";
/// The replay window receivers are advised to apply, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

/// The `Mailplane-Signature` value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac(secret, timestamp, body))
    )
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<unix seconds>,v1=<hex>`.
    #[error("the signature header is not `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    /// The timestamp lies outside the replay window.
    #[error("the signature's timestamp is outside the replay window")]
    Stale,
    /// No `v1` value matches the body and the secret.
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks a delivery: the header against the raw body and the secret, and the timestamp
/// against `now` (unix seconds) within `tolerance_secs` either way.
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => {
                candidates.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?)
            }
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - t).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    for c in candidates {
        let mut m =
            HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        m.update(t.to_string().as_bytes());
        m.update(b".");
        m.update(body);
        if m.verify_slice(&c).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_body_secret_and_window() {
        let header = sign("s3cret", 1_000, b"{\"a\":1}");
        assert_eq!(
            verify_signature("s3cret", &header, b"{\"a\":1}", 1_100, 300),
            Ok(())
        );
        assert_eq!(
            verify_signature("s3cret", &header, b"{\"a\":2}", 1_100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature("other", &header, b"{\"a\":1}", 1_100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature("s3cret", &header, b"{\"a\":1}", 1_301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature("s3cret", "v1=00", b"", 0, 300),
            Err(SignatureError::Malformed)
        );
    }
}
