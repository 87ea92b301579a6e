//! Smoke tests of the protocol core compiled to wasm32 and run in headless
//! Chromium (`wasm-pack test --headless --chrome`, see scripts/test.sh).
#![cfg(target_arch = "wasm32")]
#![forbid(unsafe_code)]

use bytes::BytesMut;
use hmac::{Hmac, Mac};
use mqttbytes::v4::{self, ConnAck, Connect, ConnectReturnCode, Packet};
use mqttbytes::QoS;
use sha2::Sha256;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// The codec the core uses encodes CONNECT and decodes CONNACK/PUBACK in wasm
/// exactly as natively.
#[wasm_bindgen_test]
fn codec_connect_connack_puback_in_wasm_succeeds() {
    let mut connect = Connect::new("dev1");
    connect.keep_alive = 60;
    connect.clean_session = false;
    let mut out = BytesMut::new();
    connect.write(&mut out).expect("CONNECT encodes");
    assert_eq!(out[0], 0x10, "CONNECT packet type");
    assert_eq!(&out[4..8], b"MQTT");
    assert_eq!(out[8], 4, "protocol level 4 = MQTT 3.1.1");

    let mut wire = BytesMut::new();
    ConnAck::new(ConnectReturnCode::Success, true)
        .write(&mut wire)
        .expect("CONNACK encodes");
    assert_eq!(&wire[..], &[0x20, 0x02, 0x01, 0x00]);
    wire.extend_from_slice(&[0x40, 0x02, 0x00, 0x07]); // PUBACK pkid 7 in the same message
    match v4::read(&mut wire, 1024).expect("CONNACK decodes") {
        Packet::ConnAck(ack) => {
            assert!(ack.session_present);
            assert_eq!(ack.code, ConnectReturnCode::Success);
        }
        other => panic!("expected CONNACK, got {other:?}"),
    }
    match v4::read(&mut wire, 1024).expect("PUBACK decodes") {
        Packet::PubAck(ack) => assert_eq!(ack.pkid, 7),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    assert!(wire.is_empty());
}

/// A PUBLISH split across two WebSocket messages is incomplete, not an error.
#[wasm_bindgen_test]
fn codec_split_publish_needs_more_bytes_succeeds() {
    let mut publish = v4::Publish::new("devices/dev1/messages/events/", QoS::AtLeastOnce, "hi");
    publish.pkid = 1;
    let mut whole = BytesMut::new();
    publish.write(&mut whole).expect("PUBLISH encodes");
    let mut part = BytesMut::from(&whole[..whole.len() - 1]);
    assert!(matches!(
        v4::read(&mut part, 1024),
        Err(mqttbytes::Error::InsufficientBytes(1))
    ));
    part.extend_from_slice(&whole[whole.len() - 1..]);
    match v4::read(&mut part, 1024).expect("PUBLISH decodes") {
        Packet::Publish(p) => {
            assert_eq!(p.pkid, 1);
            assert_eq!(&p.payload[..], b"hi");
        }
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

/// HMAC-SHA256 + base64 in wasm give the SAS signature of the shared vector
/// (../shared/vectors/iothub.json, case "device").
#[wasm_bindgen_test]
fn sas_signature_matches_vector_in_wasm_succeeds() {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .expect("key decodes");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(b"myhub.azure-devices.net%2Fdevices%2Fdev1\n1700000000");
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(sig, "i+YmMcSSZc4KzBi6ejz3l0iL+2sN0CE3q6vSm837h2g=");
}
