//! Smoke tests of the sans-IO core compiled to wasm32 and run in headless
//! Chromium (`wasm-pack test --headless --chrome`, see scripts/test.sh): the
//! same `mqtt::Session` and `hub::sas` the shell drives, with bytes fed by hand.
#![cfg(target_arch = "wasm32")]
#![forbid(unsafe_code)]

use hubwire::hub::sas;
use hubwire::mqtt::{Config, Event, PublishError, QoS, Session, State};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const CONNACK_ACCEPTED: [u8; 4] = [0x20, 0x02, 0x00, 0x00];

fn drain_events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// A session connected with CONNECT sent and CONNACK fed in.
fn connected_session(now: u64) -> Session {
    let mut config = Config::new("dev1");
    config.username = Some("myhub.azure-devices.net/dev1/?api-version=2021-04-12".into());
    config.max_inflight = 2;
    let mut s = Session::new(config);
    s.connect(now, Some("SharedAccessSignature sr=x&sig=y&se=1".into()))
        .expect("connect queues CONNECT");
    let connect = s.poll_transmit().expect("CONNECT to send");
    assert_eq!(connect[0], 0x10, "CONNECT packet type");
    assert_eq!(&connect[4..8], b"MQTT");
    assert_eq!(connect[8], 4, "protocol level 4 = MQTT 3.1.1");
    assert_eq!(s.state(), State::Connecting);
    s.handle_bytes(now + 5, &CONNACK_ACCEPTED)
        .expect("CONNACK accepted");
    assert_eq!(
        drain_events(&mut s),
        vec![Event::Connected {
            session_present: false
        }]
    );
    assert_eq!(s.state(), State::Connected);
    s
}

/// connect → CONNACK → QoS 1 publish → PUBACK split over two messages → PubAck.
#[wasm_bindgen_test]
fn session_qos1_publish_puback_in_wasm_succeeds() {
    let mut s = connected_session(1_000);
    let pkid = s
        .publish(
            1_010,
            "devices/dev1/messages/events/",
            b"{\"t\":21.5}",
            QoS::AtLeastOnce,
            false,
        )
        .expect("publish queued")
        .expect("QoS 1 has a packet id");
    let publish = s.poll_transmit().expect("PUBLISH to send");
    assert_eq!(publish[0], 0x32, "PUBLISH, QoS 1, no DUP, no retain");
    assert!(publish.ends_with(b"{\"t\":21.5}"));
    assert_eq!(s.inflight_free(), 1);

    let [hi, lo] = pkid.to_be_bytes();
    s.handle_bytes(1_020, &[0x40, 0x02]).expect("half a PUBACK");
    assert_eq!(drain_events(&mut s), vec![]);
    s.handle_bytes(1_021, &[hi, lo])
        .expect("rest of the PUBACK");
    assert_eq!(drain_events(&mut s), vec![Event::PubAck(pkid)]);
    assert_eq!(s.inflight_free(), 2);
}

/// QoS 2 is refused locally and nothing is sent (IoT Hub would drop the connection).
#[wasm_bindgen_test]
fn session_qos2_publish_in_wasm_fails() {
    let mut s = connected_session(0);
    let r = s.publish(
        1,
        "devices/dev1/messages/events/",
        b"x",
        QoS::ExactlyOnce,
        false,
    );
    assert!(matches!(r, Err(PublishError::QosNotSupported)));
    assert_eq!(s.poll_transmit(), None);
}

/// A CONNACK and an incoming QoS 1 PUBLISH coalesced in one WebSocket message.
#[wasm_bindgen_test]
fn session_coalesced_connack_and_publish_in_wasm_succeeds() {
    let mut s = Session::new(Config::new("dev1"));
    s.connect(0, None).expect("connect");
    let _connect = s.poll_transmit().expect("CONNECT");
    let topic = b"devices/dev1/messages/devicebound/";
    let mut msg = CONNACK_ACCEPTED.to_vec();
    // PUBLISH QoS 1: header, remaining length, topic, pkid 9, payload "hi".
    msg.extend_from_slice(&[0x32, (2 + topic.len() + 2 + 2) as u8, 0, topic.len() as u8]);
    msg.extend_from_slice(topic);
    msg.extend_from_slice(&[0x00, 0x09, b'h', b'i']);
    s.handle_bytes(3, &msg).expect("both packets parse");
    let events = drain_events(&mut s);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(events[0], Event::Connected { .. }));
    match &events[1] {
        Event::Message(m) => {
            assert_eq!(m.topic.as_bytes(), topic);
            assert_eq!(&m.payload[..], b"hi");
            assert_eq!(m.pkid, 9);
        }
        other => panic!("expected a message, got {other:?}"),
    }
    assert_eq!(
        s.poll_transmit(),
        Some(vec![0x40, 0x02, 0x00, 0x09]),
        "PUBACK queued"
    );
}

/// The SAS token of the shared vector (../shared/vectors/iothub.json, case "device").
#[wasm_bindgen_test]
fn sas_token_matches_vector_in_wasm_succeeds() {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .expect("key decodes");
    let resource = sas::resource("myhub.azure-devices.net", "dev1", None);
    assert_eq!(
        sas::token(&key, &resource, 1_700_000_000, None),
        "SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1\
         &sig=i%2BYmMcSSZc4KzBi6ejz3l0iL%2B2sN0CE3q6vSm837h2g%3D&se=1700000000"
    );
}
