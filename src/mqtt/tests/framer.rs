//! Framing across WebSocket messages: any split, any coalescing, size limits.

use super::super::{Error, Event, Framer, LostReason, QoS, Session, State};
use super::Packet;
use super::{cfg, connected, events, sent};

/// A connected session with SUBSCRIBE 1, PUBLISH QoS 1 id 2 and
/// UNSUBSCRIBE 3 outstanding.
fn busy_session() -> Session {
    let mut s = connected(cfg());
    assert_eq!(s.subscribe(0, &[("a/#".into(), QoS::AtLeastOnce)]), Ok(1));
    assert_eq!(
        s.publish(0, "up", b"x", QoS::AtLeastOnce, false),
        Ok(Some(2))
    );
    assert_eq!(s.unsubscribe(0, &["a/#".into()]), Ok(3));
    assert_eq!(sent(&mut s).len(), 3);
    s
}

/// SUBACK 1, PUBLISH QoS 1 id 7, PUBLISH QoS 0 with a 200-byte body (two
/// remaining-length bytes), PUBACK 2, UNSUBACK 3, PINGRESP.
fn stream() -> Vec<u8> {
    let mut v = vec![0x90, 0x03, 0x00, 0x01, 0x01];
    v.extend_from_slice(&[0x32, 0x08, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x07, b'!']);
    v.extend_from_slice(&[0x30, 0xCD, 0x01, 0x00, 0x03, b'a', b'/', b'c']);
    v.extend_from_slice(&[0x5A; 200]);
    v.extend_from_slice(&[0x40, 0x02, 0x00, 0x02]);
    v.extend_from_slice(&[0xB0, 0x02, 0x00, 0x03]);
    v.extend_from_slice(&[0xD0, 0x00]);
    v
}

/// Feed `chunks` and return (events, packets sent in answer).
fn run(chunks: &[&[u8]]) -> (Vec<Event>, Vec<Packet>) {
    let mut s = busy_session();
    for c in chunks {
        s.handle_bytes(5, c).unwrap();
    }
    assert_eq!(s.state(), State::Connected);
    (events(&mut s), sent(&mut s))
}

fn expected_events() -> Vec<Event> {
    let (ev, _) = run(&[&stream()]);
    ev
}

#[test]
fn handle_bytes_coalesced_stream_succeeds() {
    let (ev, answers) = run(&[&stream()]);
    assert_eq!(ev.len(), 5, "PINGRESP gives no event");
    assert_eq!(
        ev[0],
        Event::SubAck {
            pkid: 1,
            granted: vec![Some(QoS::AtLeastOnce)]
        }
    );
    assert!(
        matches!(&ev[1], Event::Message(m) if m.topic == "a/b" && m.pkid == 7 && m.qos == QoS::AtLeastOnce && &m.payload[..] == b"!")
    );
    assert!(
        matches!(&ev[2], Event::Message(m) if m.topic == "a/c" && m.payload.len() == 200 && m.qos == QoS::AtMostOnce)
    );
    assert_eq!(ev[3], Event::PubAck(2));
    assert_eq!(ev[4], Event::UnsubAck(3));
    // The QoS 1 message is acknowledged.
    assert_eq!(answers, vec![Packet::PubAck(mqttbytes::v4::PubAck::new(7))]);
}

#[test]
fn handle_bytes_split_at_every_boundary_succeeds() {
    let bytes = stream();
    let expected = run(&[&bytes]);
    for i in 0..=bytes.len() {
        let (a, b) = bytes.split_at(i);
        assert_eq!(run(&[a, b]), expected, "split at {i}");
    }
}

#[test]
fn handle_bytes_split_at_every_pair_of_boundaries_succeeds() {
    // Without the 200-byte body to keep it quadratic but quick.
    let mut bytes = vec![0x90, 0x03, 0x00, 0x01, 0x01];
    bytes.extend_from_slice(&[0x32, 0x08, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x07, b'!']);
    bytes.extend_from_slice(&[0x40, 0x02, 0x00, 0x02, 0xB0, 0x02, 0x00, 0x03, 0xD0, 0x00]);
    let expected = run(&[&bytes]);
    assert_eq!(expected.0.len(), 4);
    for i in 0..=bytes.len() {
        for j in i..=bytes.len() {
            let got = run(&[&bytes[..i], &bytes[i..j], &bytes[j..]]);
            assert_eq!(got, expected, "split at {i} and {j}");
        }
    }
}

#[test]
fn handle_bytes_one_byte_at_a_time_succeeds() {
    let bytes = stream();
    let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(run(&chunks), run(&[&bytes]));
    assert_eq!(run(&chunks).0, expected_events());
}

#[test]
fn framer_oversized_packet_fails_before_buffering() {
    let mut f = Framer::new(1024);
    // PUBLISH announcing 268,435,455 bytes: refused after the 5 header bytes.
    let mut input: &[u8] = &[0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x00];
    assert_eq!(
        f.next_frame(&mut input),
        Err(Error::PacketTooLarge {
            size: 268_435_460,
            max: 1024
        })
    );
    assert_eq!(input, &[0x00, 0x00], "nothing past the header was consumed");
    assert!(f.buffered() <= 5);
}

#[test]
fn framer_packet_at_limit_succeeds_one_over_fails() {
    let mut at = vec![0x30, 0x7E, 0x00, 0x01, b't'];
    at.resize(128, 0); // 2 + 126 bytes
    let mut f = Framer::new(128);
    assert_eq!(f.next_frame(&mut &at[..]).unwrap().unwrap().len(), 128);
    let over = [0x30, 0x7F];
    assert_eq!(
        Framer::new(128).next_frame(&mut &over[..]),
        Err(Error::PacketTooLarge {
            size: 129,
            max: 128
        })
    );
}

#[test]
fn handle_bytes_oversized_header_only_fails() {
    let mut c = cfg();
    c.max_incoming_packet = 1000;
    let mut s = connected(c);
    // Only the fixed header of a 1 MB PUBLISH arrives: refused at once.
    let err = s.handle_bytes(1, &[0x30, 0x80, 0x80, 0x40]).unwrap_err();
    assert_eq!(
        err,
        Error::PacketTooLarge {
            size: 1_048_580,
            max: 1000
        }
    );
    assert_eq!(
        events(&mut s),
        vec![Event::ConnectionLost(LostReason::Protocol(err))]
    );
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn framer_five_length_bytes_fails() {
    let mut f = Framer::new(usize::MAX);
    let mut input: &[u8] = &[0x30, 0x80, 0x80, 0x80, 0x80, 0x01];
    assert_eq!(
        f.next_frame(&mut input),
        Err(Error::MalformedRemainingLength)
    );
}

#[test]
fn framer_partial_header_then_rest_succeeds() {
    let mut f = Framer::new(usize::MAX);
    let mut a: &[u8] = &[0x30, 0x80];
    assert_eq!(f.next_frame(&mut a), Ok(None));
    assert_eq!(f.buffered(), 2);
    let mut b: &[u8] = &[0x01];
    assert_eq!(f.next_frame(&mut b), Ok(None));
    let mut body = vec![0x00, 0x01, b't'];
    body.resize(128, 1);
    let mut c = &body[..];
    let frame = f.next_frame(&mut c).unwrap().unwrap();
    assert_eq!(frame.len(), 131);
    assert_eq!(f.buffered(), 0);
}
