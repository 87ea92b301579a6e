//! IoT Hub's documented limits in one place, with the small computations that
//! apply them. docs/emulator.md ("Limits and refusals") cites where each is
//! documented and says what the emulator chose where the docs are silent.

/// Largest cloud-to-device message (body plus property names and values).
pub const MAX_C2D_MESSAGE_BYTES: usize = 64 * 1024;
/// Time to live of a cloud-to-device message sent without `iothub-expiry`
/// (the hub's `defaultTtlAsIso8601` default, one hour).
pub const C2D_DEFAULT_TTL_MS: u64 = 60 * 60 * 1000;
/// Deliveries of a cloud-to-device message before it is dead-lettered
/// (the hub's `maxDeliveryCount` default).
pub const C2D_MAX_DELIVERY_COUNT: u32 = 10;
/// How long feedback records stay readable (the hub's `feedback.ttlAsIso8601` default).
pub const FEEDBACK_TTL_MS: u64 = 60 * 60 * 1000;
/// Feedback records kept at most (the emulator's own bound on memory).
pub const MAX_FEEDBACK_RECORDS: usize = 10_000;

/// `responseTimeoutInSeconds` when the request does not give one.
pub const METHOD_DEFAULT_RESPONSE_TIMEOUT_S: u64 = 30;
/// Smallest `responseTimeoutInSeconds` the hub accepts.
pub const METHOD_MIN_RESPONSE_TIMEOUT_S: u64 = 5;
/// Largest `responseTimeoutInSeconds` and `connectTimeoutInSeconds`.
pub const METHOD_MAX_TIMEOUT_S: u64 = 300;
/// Largest direct method payload, request or response (JSON bytes).
pub const MAX_METHOD_PAYLOAD_BYTES: usize = 128 * 1024;

/// The longest silence the hub allows a connection, whatever its keep-alive
/// asks (the Azure load balancer's idle timeout, 29.45 minutes).
pub const MAX_KEEPALIVE_TIMEOUT_MS: u64 = 1_767_000;
/// Topic filters one MQTT session may hold at a time.
pub const MAX_SUBSCRIPTIONS: usize = 5;
/// The application property IoT Hub adds to a message published with RETAIN.
pub const RETAIN_PROPERTY: &str = "mqtt-retain";

/// How long the hub waits for traffic on a connection before closing it:
/// 1.5 times the keep-alive, at most [`MAX_KEEPALIVE_TIMEOUT_MS`]; a keep-alive
/// of 0 (none) gets the maximum.
pub fn keepalive_timeout_ms(keep_alive_ms: u64) -> u64 {
    let asked = keep_alive_ms.saturating_mul(3) / 2;
    if asked == 0 {
        MAX_KEEPALIVE_TIMEOUT_MS
    } else {
        asked.min(MAX_KEEPALIVE_TIMEOUT_MS)
    }
}

/// A message's size as IoT Hub measures it: the body, the values of the
/// system properties, and the names and values of the application properties.
pub fn message_size<'a>(
    body: usize,
    system_values: impl IntoIterator<Item = &'a str>,
    properties: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> usize {
    let system: usize = system_values.into_iter().map(str::len).sum();
    let app: usize = properties
        .into_iter()
        .map(|(k, v)| k.len() + v.map_or(0, str::len))
        .sum();
    body + system + app
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_timeout_is_one_and_a_half_capped_succeeds() {
        assert_eq!(keepalive_timeout_ms(60_000), 90_000);
        assert_eq!(keepalive_timeout_ms(1_177_000), 1_765_500);
        assert_eq!(keepalive_timeout_ms(1_178_000), MAX_KEEPALIVE_TIMEOUT_MS);
        assert_eq!(keepalive_timeout_ms(65_535_000), MAX_KEEPALIVE_TIMEOUT_MS);
        assert_eq!(keepalive_timeout_ms(0), MAX_KEEPALIVE_TIMEOUT_MS);
    }

    #[test]
    fn message_size_counts_body_values_and_property_names_succeeds() {
        let n = message_size(10, ["mid1"], [("k", Some("vv")), ("flag", None)]);
        assert_eq!(n, 10 + 4 + 3 + 4);
    }
}
