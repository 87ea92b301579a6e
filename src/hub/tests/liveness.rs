//! Scripted tests of how `hub::Client` notices a connection that is alive on the
//! wire but not working, on a fake clock: acknowledgements withheld, a WebSocket
//! text frame, packets a hostile hub sends, and a hub that accepts then drops at
//! once (the backoff must keep growing until a connection proves stable).

use super::harness::*;
use crate::hub::client::STABLE_CONNECTION_MS;
use crate::mqtt::DEFAULT_ACK_TIMEOUT_MS;

fn fixed_backoff() -> ClientConfig {
    let mut cfg = config();
    cfg.retry = Backoff {
        min_ms: 1000,
        max_ms: 60_000,
        jitter: 0.0,
    };
    cfg
}

fn reconnecting(events: &[HubEvent]) -> Option<(u32, u64)> {
    events.iter().find_map(|e| match e {
        HubEvent::Reconnecting { attempt, delay_ms } => Some((*attempt, *delay_ms)),
        _ => None,
    })
}

fn disconnected(events: &[HubEvent]) -> Option<(Error, bool)> {
    events.iter().find_map(|e| match e {
        HubEvent::Disconnected { reason, will_retry } => Some((reason.clone(), *will_retry)),
        _ => None,
    })
}

#[test]
fn client_backoff_grows_across_short_connections_resets_after_stable_one_succeeds() {
    let mut h = H::new(fixed_backoff());
    h.connect();
    h.c.connection_lost(h.now);
    assert_eq!(reconnecting(&h.take_events()), Some((1, 1000)));
    h.run_until(h.now + 1000);
    h.c.connection_lost(h.now); // the transport never opened
    assert_eq!(reconnecting(&h.take_events()), Some((2, 2000)));
    // The hub accepts, then drops at once: the next delay is the next step, not the first.
    h.run_until(h.now + 2000);
    h.open_and_connack(ConnectReturnCode::Success);
    h.run_until(h.now + STABLE_CONNECTION_MS - 1);
    h.c.connection_lost(h.now);
    assert_eq!(reconnecting(&h.take_events()), Some((3, 4000)));
    // A connection that lasts STABLE_CONNECTION_MS restarts the backoff at the first step.
    h.run_until(h.now + 4000);
    h.open_and_connack(ConnectReturnCode::Success);
    h.run_until(h.now + STABLE_CONNECTION_MS);
    h.c.connection_lost(h.now);
    assert_eq!(reconnecting(&h.take_events()), Some((1, 1000)));
}

#[test]
fn client_accept_then_drop_hub_connects_at_most_every_backoff_step_succeeds() {
    // A hub that drops every connection right after CONNACK, for 10 minutes: the
    // client's connect rate must fall well under IoT Hub's per-device throttle.
    let mut h = H::new(fixed_backoff());
    h.connect();
    let start = h.now;
    let mut connects = 1;
    while h.now < start + 600_000 {
        h.c.connection_lost(h.now);
        let (_, delay) = reconnecting(&h.take_events()).expect("retries");
        h.run_until(h.now + delay);
        h.open_and_connack(ConnectReturnCode::Success);
        connects += 1;
    }
    // 1+2+4+8+16+32 s, then 60 s each: about 14 connects in 10 minutes.
    assert!(connects <= 16, "{connects} connects in 10 minutes");
}

#[test]
fn client_withheld_puback_times_out_reconnects_resends_with_dup_succeeds() {
    let mut h = H::new(fixed_backoff());
    h.connect();
    h.take_events();
    let op = h.c.send_event(h.now, Telemetry::new("m0")).unwrap();
    let first = h.take_sent();
    assert_eq!(publishes(&first).len(), 1);
    // The hub never acknowledges: nothing happens before the deadline...
    h.run_until(h.now + DEFAULT_ACK_TIMEOUT_MS - 1);
    assert!(h.take_events().is_empty());
    assert_eq!(h.c.state(), ConnectionState::Connected);
    // ...then the connection is treated as lost, closed by us, and retried.
    h.run_until(h.now + 1);
    let ev = h.take_events();
    assert!(ev.contains(&HubEvent::CloseTransport), "{ev:?}");
    assert_eq!(disconnected(&ev), Some((Error::Timeout, true)));
    assert!(
        completed(&ev).is_empty(),
        "the send is still pending: {ev:?}"
    );
    // The next connection resends it with DUP, and its PUBACK completes the send.
    h.run_until(h.now + 1000);
    h.open_and_connack(ConnectReturnCode::Success);
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p.len(), 1);
    assert!(p[0].dup);
    assert_eq!(&p[0].payload[..], b"m0");
    h.feed(Packet::PubAck(PubAck::new(p[0].pkid)));
    assert_eq!(completed(&h.take_events()), vec![(op, Ok(OpResult::Sent))]);
}

#[test]
fn client_ack_deadline_is_per_message_succeeds() {
    // Acknowledgements of later messages do not keep an older, withheld one alive.
    let mut h = H::new(fixed_backoff());
    h.connect();
    h.take_events();
    h.c.send_event(h.now, Telemetry::new("old")).unwrap();
    h.take_sent();
    for i in 0..5 {
        h.run_until(h.now + DEFAULT_ACK_TIMEOUT_MS / 5);
        if i == 4 {
            break;
        }
        h.c.send_event(h.now, Telemetry::new("new")).unwrap();
        let sent = h.take_sent();
        h.feed(Packet::PubAck(PubAck::new(publishes(&sent)[0].pkid)));
    }
    assert_eq!(
        disconnected(&h.take_events()).map(|d| d.0),
        Some(Error::Timeout)
    );
}

#[test]
fn client_timely_acks_and_zero_ack_timeout_never_time_out_succeeds() {
    for ack_timeout_ms in [DEFAULT_ACK_TIMEOUT_MS, 0] {
        let mut cfg = fixed_backoff();
        cfg.ack_timeout_ms = ack_timeout_ms;
        let mut h = H::new(cfg);
        h.connect();
        h.take_events();
        for _ in 0..10 {
            h.c.send_event(h.now, Telemetry::new("m")).unwrap();
            let sent = h.take_sent();
            h.run_until(h.now + DEFAULT_ACK_TIMEOUT_MS / 2);
            h.feed(Packet::PubAck(PubAck::new(publishes(&sent)[0].pkid)));
        }
        if ack_timeout_ms == 0 {
            // Withheld for ten minutes: still connected.
            h.c.send_event(h.now, Telemetry::new("m")).unwrap();
            h.run_until(h.now + 600_000);
        }
        assert_eq!(h.c.state(), ConnectionState::Connected);
        assert_eq!(disconnected(&h.take_events()), None);
    }
}

#[test]
fn client_text_frame_is_protocol_error_and_retried_fails() {
    let mut h = H::new(fixed_backoff());
    h.connect();
    h.take_events();
    let op = h.c.send_event(h.now, Telemetry::new("kept")).unwrap();
    h.take_sent();
    h.c.handle_text_frame(h.now);
    let ev = h.take_events();
    assert!(ev.contains(&HubEvent::CloseTransport), "{ev:?}");
    let (err, will_retry) = disconnected(&ev).unwrap();
    assert!(will_retry);
    assert_eq!(err.code(), "PROTOCOL_ERROR");
    assert!(err.message().contains("text frame"), "{}", err.message());
    assert_eq!(reconnecting(&ev), Some((1, 1000)));
    // Nothing accepted is lost: the send goes out again on the next connection.
    h.run_until(h.now + 1000);
    h.open_and_connack(ConnectReturnCode::Success);
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(&p[0].payload[..], b"kept");
    h.feed(Packet::PubAck(PubAck::new(p[0].pkid)));
    assert_eq!(completed(&h.take_events()), vec![(op, Ok(OpResult::Sent))]);
    // A text frame while idle changes nothing.
    h.c.disconnect(h.now);
    h.take_events();
    h.c.handle_text_frame(h.now);
    assert!(h.take_events().is_empty());
}

#[test]
fn client_protocol_errors_say_what_the_hub_did_fails() {
    let cases: [(&[u8], &str); 5] = [
        (&[0x40, 0x02, 0x03, 0xE7], "a packet we refuse"), // PUBACK 999
        (&[0xC0, 0x00], "a packet we refuse"),             // PINGREQ
        (&[0x36, 0x03, 0x00, 0x01, b't'], "a packet we refuse"), // PUBLISH QoS 3
        (&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01], "a packet we refuse"), // 5 length bytes
        (&[0x30, 0xFF, 0xFF, 0xFF, 0x7F], "over the size limit"), // 256 MiB announced
    ];
    for (bytes, want) in cases {
        let mut h = H::new(fixed_backoff());
        h.connect();
        h.take_events();
        h.c.handle_bytes(h.now, bytes);
        let (err, will_retry) = disconnected(&h.take_events()).unwrap();
        assert!(will_retry);
        assert_eq!(err.code(), "PROTOCOL_ERROR");
        assert!(err.message().contains(want), "{}", err.message());
    }
}
