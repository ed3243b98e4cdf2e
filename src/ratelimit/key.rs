//! Which bucket a request is charged to.
//!
//! The limiter must never charge an app on a claim the shim cannot verify: a caller that
//! presents `bk_app_code = X` with a wrong secret must not use up the quota of the callers
//! of `X` that present the right one. So:
//!
//! * a request whose identity comes from a **verified JWT** is charged to the JWT's app
//!   code (the bucket is the app code itself);
//! * any other request is charged to `<app_code>#<tag>`, where `tag` is the first 64 bits
//!   (hex) of HMAC-SHA256 over the app code and the secret material presented
//!   (`bk_app_secret`, else `access_token`; empty when none). Callers presenting the same
//!   secret share a bucket; a wrong secret lands in another bucket. The tag reveals nothing
//!   usable about the secret without the HMAC key.
//!
//! The rates still follow the app code (`rate_limit.rates.<app>`), only the counters are
//! split. The HMAC key:
//!
//! * `rate_limit.bucket_key` when set (≥ 16 bytes; a secret shared by every replica,
//!   usually from the environment: `BK_JOB_SHIM_RATE_LIMIT__BUCKET_KEY`);
//! * else, for the **local** backend, random per process ([`LimitKeyer::process`]);
//! * else, for the **redis** backend, derived from `redis_prefix` alone
//!   ([`LimitKeyer::from_prefix`]): deterministic, so every replica computes the same
//!   buckets without any configuration. The trade-off: that key is not secret, so the
//!   tags are as good as an unkeyed hash of app code and secret. Whoever can list the
//!   Redis keys can test guessed secrets offline against a 64-bit tag (harmless for the
//!   random secrets BlueKing issues, not for a weak hand-made one), and a wrong-secret
//!   caller still cannot reach the right bucket (that would take a second preimage of the
//!   tag). Setting `bucket_key` removes the offline test. `check-config` and the start-up
//!   log warn when a Redis limiter runs on the fallback.
//!
//! Changing the key (or the prefix, for the fallback) starts fresh buckets once; no
//! secret is stored, only tags.
//!
//! Flooding an app with random wrong secrets creates buckets; they are bounded by
//! `Options::max_tracked_apps` (beyond it new buckets share one overflow bucket) and
//! forgotten by housekeeping once their windows end.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// Derives limiter buckets (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct LimitKeyer {
    /// HMAC-SHA256 with its key already absorbed (the key pads are hashed once here,
    /// not per request); `None` only if the MAC refused the key, which HMAC never does.
    mac: Option<Hmac<Sha256>>,
}

impl fmt::Debug for LimitKeyer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LimitKeyer(***)")
    }
}

impl LimitKeyer {
    /// A keyer with a configured HMAC key (shared by replicas on one Redis).
    pub fn new(key: &[u8]) -> Self {
        Self {
            mac: Hmac::<Sha256>::new_from_slice(key).ok(),
        }
    }

    /// A keyer with a random HMAC key (per process).
    pub fn random() -> Self {
        let mut key = Vec::with_capacity(32);
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self::new(&key)
    }

    /// The deterministic keyer of a Redis backend without `rate_limit.bucket_key`: the
    /// HMAC key is derived from the key prefix only (see the module docs for the
    /// trade-off). Every replica with the same prefix computes the same buckets.
    pub fn from_prefix(prefix: &str) -> Self {
        Self::new(format!("bk-job-shim rate-limit buckets v1; prefix={prefix}").as_bytes())
    }

    /// The keyer of this process (random key, made once): buckets survive reloads.
    pub fn process() -> &'static LimitKeyer {
        static KEYER: std::sync::OnceLock<LimitKeyer> = std::sync::OnceLock::new();
        KEYER.get_or_init(LimitKeyer::random)
    }

    /// The bucket of a request of `app`: `app` itself when the identity is `verified`,
    /// else `app#<tag of the presented secret>`.
    pub fn bucket(&self, app: &str, verified: bool, presented_secret: Option<&str>) -> String {
        if verified {
            return app.to_owned();
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let Some(mut mac) = self.mac.clone() else {
            return format!("{app}#-");
        };
        mac.update(app.as_bytes());
        mac.update(&[0]);
        mac.update(presented_secret.unwrap_or("").as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(app.len() + 17);
        out.push_str(app);
        out.push('#');
        for b in tag.iter().take(8) {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_split_by_presented_secret_unless_verified() {
        let k = LimitKeyer::new(b"k");
        assert_eq!(k.bucket("app", true, Some("x")), "app");
        let right = k.bucket("app", false, Some("right"));
        let wrong = k.bucket("app", false, Some("wrong"));
        assert_ne!(right, wrong);
        assert_eq!(right, k.bucket("app", false, Some("right")));
        assert!(
            right.starts_with("app#") && right.len() == 4 + 16,
            "{right}"
        );
        assert!(!right.contains("right"));
        assert_ne!(k.bucket("app", false, None), right);
        // Another key, other tags; the same key in two replicas, the same tags.
        assert_ne!(
            LimitKeyer::new(b"other").bucket("app", false, Some("right")),
            right
        );
        assert_eq!(
            LimitKeyer::new(b"k").bucket("app", false, Some("right")),
            right
        );
        assert_ne!(
            LimitKeyer::random().bucket("a", false, None),
            LimitKeyer::random().bucket("a", false, None)
        );
        assert_eq!(format!("{k:?}"), "LimitKeyer(***)");
        // The Redis fallback: the same on every replica, distinct per prefix.
        assert_eq!(
            LimitKeyer::from_prefix("p").bucket("a", false, Some("s")),
            LimitKeyer::from_prefix("p").bucket("a", false, Some("s"))
        );
        assert_ne!(
            LimitKeyer::from_prefix("p").bucket("a", false, Some("s")),
            LimitKeyer::from_prefix("q").bucket("a", false, Some("s"))
        );
    }
}
