//! Keep-alive, ping timeout, connect timeout and acknowledgement timeout, scripted on a fake clock.

use super::super::{Config, Event, LostReason, QoS, Session, State};
use super::Packet;
use super::{cfg, connected, events, sent, CONNACK_OK};

/// Keep-alive 10 s, ping timeout 3 s, connect timeout 5 s.
fn short() -> Config {
    let mut c = cfg();
    c.keep_alive_secs = 10;
    c.ping_timeout_ms = 3_000;
    c.connack_timeout_ms = 5_000;
    c
}

#[test]
fn keep_alive_ping_and_pong_on_fake_clock_succeeds() {
    let mut s = Session::new(short());
    s.connect(1_000, Some("pw".into())).unwrap();
    assert_eq!(s.poll_timeout(), Some(6_000), "connect timeout");
    let _ = sent(&mut s);
    s.handle_bytes(1_500, CONNACK_OK).unwrap();
    let _ = events(&mut s);
    // Counted from the CONNECT, the last packet sent.
    assert_eq!(s.poll_timeout(), Some(11_000));

    s.handle_timeout(10_999);
    assert_eq!(sent(&mut s), vec![], "early call is harmless");
    s.handle_timeout(11_000);
    assert_eq!(sent(&mut s), vec![Packet::PingReq]);
    assert_eq!(s.poll_timeout(), Some(14_000), "ping timeout");

    s.handle_bytes(12_000, &[0xD0, 0x00]).unwrap();
    assert_eq!(
        s.poll_timeout(),
        Some(21_000),
        "next ping 10 s after the PINGREQ"
    );

    // Receiving does not postpone the ping; sending does.
    s.handle_bytes(13_000, &[0x30, 0x03, 0x00, 0x01, b't'])
        .unwrap();
    assert_eq!(s.poll_timeout(), Some(21_000));
    s.publish(15_000, "t", b"", QoS::AtMostOnce, false).unwrap();
    assert_eq!(s.poll_timeout(), Some(25_000));
    // An incoming QoS 1 publish makes us send a PUBACK: that counts too.
    s.handle_bytes(16_000, &[0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x09])
        .unwrap();
    assert_eq!(s.poll_timeout(), Some(26_000));
    let _ = sent(&mut s);
    let _ = events(&mut s);

    s.handle_timeout(26_000);
    assert_eq!(sent(&mut s), vec![Packet::PingReq]);
    assert_eq!(s.poll_timeout(), Some(29_000));
    // Sending while a ping is outstanding does not re-arm the keep-alive.
    s.publish(27_000, "t", b"", QoS::AtMostOnce, false).unwrap();
    assert_eq!(s.poll_timeout(), Some(29_000));
    s.handle_timeout(28_999);
    assert_eq!(s.state(), State::Connected);
    assert_eq!(events(&mut s), vec![]);
    s.handle_timeout(29_000);
    assert_eq!(
        events(&mut s),
        vec![Event::ConnectionLost(LostReason::PingTimeout)]
    );
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(
        s.poll_transmit(),
        None,
        "queued bytes of a dead transport are dropped"
    );
}

#[test]
fn keep_alive_any_packet_answers_the_ping_succeeds() {
    let mut s = Session::new(short());
    s.connect(0, None).unwrap();
    s.handle_bytes(0, CONNACK_OK).unwrap();
    s.handle_timeout(10_000);
    assert_eq!(s.poll_timeout(), Some(13_000));
    // A PUBLISH arrives instead of the PINGRESP: the connection is alive.
    s.handle_bytes(11_000, &[0x30, 0x03, 0x00, 0x01, b't'])
        .unwrap();
    assert_eq!(s.poll_timeout(), Some(20_000));
    s.handle_timeout(13_000);
    assert_eq!(s.state(), State::Connected);
}

#[test]
fn keep_alive_zero_disables_pings_succeeds() {
    let mut c = short();
    c.keep_alive_secs = 0;
    let mut s = Session::new(c);
    s.connect(0, None).unwrap();
    s.handle_bytes(0, CONNACK_OK).unwrap();
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(1_000_000);
    let _ = sent(&mut s);
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn connect_timeout_fails() {
    let mut s = Session::new(short());
    s.connect(100, None).unwrap();
    assert_eq!(s.poll_timeout(), Some(5_100));
    s.handle_timeout(5_099);
    assert_eq!(s.state(), State::Connecting);
    s.handle_timeout(5_100);
    assert_eq!(
        events(&mut s),
        vec![Event::ConnectionLost(LostReason::ConnackTimeout)]
    );
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn connection_lost_stops_timers_succeeds() {
    let mut s = Session::new(short());
    s.connect(0, None).unwrap();
    s.handle_bytes(0, CONNACK_OK).unwrap();
    assert_eq!(s.poll_timeout(), Some(10_000));
    s.connection_lost(1);
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(50_000);
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn ack_timeout_counts_from_the_oldest_unacknowledged_packet_fails() {
    let mut c = cfg();
    c.keep_alive_secs = 0;
    c.ack_timeout_ms = 10_000;
    let mut s = connected(c);
    assert_eq!(s.poll_timeout(), None, "nothing awaited, no deadline");
    let a = s
        .publish(1_000, "t", b"a", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    s.subscribe(2_000, &[("f".into(), QoS::AtLeastOnce)])
        .unwrap();
    s.publish(3_000, "t", b"b", QoS::AtLeastOnce, false)
        .unwrap();
    let _ = sent(&mut s);
    assert_eq!(s.poll_timeout(), Some(11_000), "the first PUBLISH's");
    s.handle_bytes(4_000, &[0x40, 0x02, (a >> 8) as u8, a as u8])
        .unwrap();
    assert_eq!(s.poll_timeout(), Some(12_000), "now the SUBSCRIBE's");
    let _ = events(&mut s);
    s.handle_timeout(11_999);
    assert_eq!(s.state(), State::Connected);
    s.handle_timeout(12_000);
    assert_eq!(s.state(), State::Idle);
    assert_eq!(
        events(&mut s),
        vec![Event::ConnectionLost(LostReason::AckTimeout)]
    );
    // The unacknowledged PUBLISH is kept; the next connection resends it and
    // restarts its clock.
    s.connect(20_000, None).unwrap();
    s.handle_bytes(20_000, CONNACK_OK).unwrap();
    let resent = sent(&mut s);
    assert!(matches!(&resent[..], [Packet::Connect(_), Packet::Publish(p)] if p.dup));
    assert_eq!(s.poll_timeout(), Some(30_000));
}

#[test]
fn text_frame_ends_a_live_connection_fails() {
    let mut s = connected(cfg());
    s.handle_text_frame(1_000);
    assert_eq!(s.state(), State::Idle);
    assert_eq!(
        events(&mut s),
        vec![Event::ConnectionLost(LostReason::Protocol(
            super::super::Error::TextFrame
        ))]
    );
    s.handle_text_frame(2_000);
    assert_eq!(events(&mut s), vec![], "ignored when not live");
}
