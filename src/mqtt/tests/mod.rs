//! Unit tests of the MQTT session core, one file per concern.

mod codec;
mod framer;
mod keepalive;
mod pkid;
mod random;
mod session;

use super::{Config, Event, Framer, Session};
/// What the session sends, decoded by a codec nobody here wrote.
pub(super) use mqttbytes::v4::Packet;

/// `frame` (one whole packet) decoded by mqttbytes.
pub(super) fn peer_decode(frame: &[u8]) -> Packet {
    let mut b = bytes::BytesMut::from(frame);
    let p = mqttbytes::v4::read(&mut b, usize::MAX).expect("mqttbytes decodes what we sent");
    assert!(b.is_empty(), "one packet per frame");
    p
}

/// CONNACK accepted, no session present.
pub(super) const CONNACK_OK: &[u8] = &[0x20, 0x02, 0x00, 0x00];

/// The configuration the tests start from.
pub(super) fn cfg() -> Config {
    let mut c = Config::new("dev1");
    c.username = Some("hub/dev1".into());
    c
}

/// A session connected at time 0 with nothing left to poll.
pub(super) fn connected(cfg: Config) -> Session {
    let mut s = Session::new(cfg);
    s.connect(0, Some("pw".into())).unwrap();
    let connect = sent(&mut s);
    assert!(matches!(connect[..], [Packet::Connect(_)]));
    s.handle_bytes(0, CONNACK_OK).unwrap();
    assert_eq!(
        events(&mut s),
        vec![Event::Connected {
            session_present: false
        }]
    );
    s
}

/// Every packet the session wants to transmit, decoded.
pub(super) fn sent(s: &mut Session) -> Vec<Packet> {
    let mut out = Vec::new();
    let mut framer = Framer::new(usize::MAX);
    while let Some(buf) = s.poll_transmit() {
        let mut input = &buf[..];
        while let Some(frame) = framer.next_frame(&mut input).unwrap() {
            out.push(peer_decode(&frame));
        }
        assert!(input.is_empty());
    }
    assert_eq!(framer.buffered(), 0, "a transmit ended mid-packet");
    out
}

/// Every event the session has queued.
pub(super) fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}
