//! Packet identifiers: wrap-around, skipping ids in flight, exhaustion.

use super::super::{Error, PacketIds, PublishError, QoS};
use super::{cfg, connected, sent};

#[test]
fn packet_ids_wrap_and_skip_in_use_succeeds() {
    let mut ids = PacketIds::starting_at(65_534);
    assert_eq!(ids.allocate(), Some(65_534)); // kept in use
    assert_eq!(ids.allocate(), Some(65_535));
    assert!(ids.release(65_535));
    assert_eq!(ids.allocate(), Some(1), "wraps 65535 -> 1, never 0");
    for id in 2..=65_533 {
        assert_eq!(ids.allocate(), Some(id));
        assert!(ids.release(id));
    }
    assert_eq!(ids.allocate(), Some(65_535), "65534 is in use: skipped");
    assert_eq!(ids.allocate(), Some(2), "1 is in use: skipped");
    assert!(!ids.release(3), "3 was never handed out");
    assert_eq!(ids.in_use(), 4);
}

#[test]
fn packet_ids_exhausted_fails() {
    let mut ids = PacketIds::new();
    for i in 1..=u16::MAX {
        assert_eq!(ids.allocate(), Some(i));
    }
    assert_eq!(ids.allocate(), None);
    assert!(ids.release(40_000));
    assert_eq!(ids.allocate(), Some(40_000), "the only free id");
    assert_eq!(ids.allocate(), None);
}

#[test]
fn session_ids_wrap_skipping_inflight_succeeds() {
    let mut s = connected(cfg());
    let body = b"x";
    // Id 1 stays in flight for the whole test.
    assert_eq!(
        s.publish(0, "t", body, QoS::AtLeastOnce, false),
        Ok(Some(1))
    );
    for expected in 2..=u16::MAX {
        let id = s
            .publish(0, "t", body, QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap();
        assert_eq!(id, expected);
        s.handle_bytes(0, &[0x40, 0x02, (id >> 8) as u8, id as u8])
            .unwrap();
        let _ = s.poll_transmit();
        while s.poll_event().is_some() {}
    }
    // Wrapped: 1 is in flight, so the next id is 2. Subscribes share the space.
    assert_eq!(s.subscribe(0, &[("a".into(), QoS::AtMostOnce)]), Ok(2));
    assert_eq!(
        s.publish(0, "t", body, QoS::AtLeastOnce, false),
        Ok(Some(3))
    );
    assert_eq!(s.inflight_ids(), vec![1, 3]);
    let _ = sent(&mut s);
}

#[test]
fn subscribe_with_all_ids_in_use_fails() {
    let mut s = connected(cfg());
    for i in 1..=u16::MAX {
        assert_eq!(s.unsubscribe(0, &["a".into()]), Ok(i));
        let _ = s.poll_transmit();
    }
    assert_eq!(
        s.subscribe(0, &[("a".into(), QoS::AtMostOnce)]),
        Err(Error::PacketIdsExhausted)
    );
    assert_eq!(
        s.publish(0, "t", b"", QoS::AtLeastOnce, false),
        Err(PublishError::Encode(Error::PacketIdsExhausted))
    );
    // QoS 0 needs no id.
    assert_eq!(s.publish(0, "t", b"", QoS::AtMostOnce, false), Ok(None));
}
