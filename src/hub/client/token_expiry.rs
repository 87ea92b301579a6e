//! When a token from the token provider expires, and so when to renew it.
//!
//! `getToken(expirySeconds)` is asked for a token expiring at the requested time, but
//! what it returns is what counts: its own `se` decides when the hub will cut the
//! connection. So renewal is scheduled from that `se` (the requested expiry only when
//! the string is not a `SharedAccessSignature` token we can read). A token that lives
//! less than the renewal margin would be due for renewal at once and again after every
//! reconnect; such a token is renewed halfway through its remaining life instead.

use super::super::sas::{expiry_of, renew_at_ms};
use super::Client;

impl Client {
    /// The expiry (seconds since the epoch) to schedule renewal from for a provider's
    /// `token` received at `now`; also sets the earliest renewal time for it.
    pub(super) fn provider_token_expiry(&mut self, now: u64, token: &str, requested: u64) -> u64 {
        let expiry_secs = expiry_of(token).unwrap_or(requested);
        let expiry_ms = expiry_secs.saturating_mul(1000);
        self.renew_floor_ms = if renew_at_ms(expiry_secs, self.config.renew_margin_secs()) <= now {
            now + expiry_ms.saturating_sub(now) / 2
        } else {
            0
        };
        expiry_secs
    }
}
