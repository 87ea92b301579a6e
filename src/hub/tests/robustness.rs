//! Hostile input: every parser and the client must return typed errors, never panic.

use bytes::BytesMut;
use mqttbytes::v4::{ConnAck, ConnectReturnCode, Publish};
use mqttbytes::QoS as WireQoS;

use crate::hub::encoding::{decode_bag, encode_bag, percent_decode, percent_encode};
use crate::hub::retry::Rng;
use crate::hub::{
    c2d, methods, sas, telemetry, twin, Client, ClientConfig, ConnectionString, HubEvent,
};

const ALPHABET: &[&str] = &[
    "a",
    "Z",
    "0",
    "%",
    "%2",
    "%2F",
    "%2a",
    "%zz",
    "%FF",
    "&",
    "=",
    "+",
    "/",
    "?",
    "$",
    "#",
    " ",
    "ü",
    "☃",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\\",
    ":",
    ",",
    "$rid",
    "$version",
    "desired",
    "\\u0024",
    "\\uD800",
    "-1",
    "99999999999999999999",
    "devices/",
    "messages/events/",
    "messages/devicebound/",
    "$iothub/twin/res/",
    "$iothub/twin/PATCH/properties/desired/",
    "$iothub/methods/POST/",
    "modules/",
    "inputs/",
    "SharedAccessSignature ",
    "sr=",
    "sig=",
    "se=",
    ";",
    "HostName=",
    "DeviceId=",
    "SharedAccessKey=",
    "SharedAccessSignature=",
];

fn random_string(rng: &mut Rng) -> String {
    let n = (rng.next_u32() % 12) as usize;
    (0..n)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()])
        .collect()
}

#[test]
fn parsers_random_input_never_panic_succeeds() {
    let mut rng = Rng::new(0x5eed);
    for _ in 0..20_000 {
        let s = random_string(&mut rng);
        if let Ok(bag) = decode_bag(&s) {
            // Whatever decodes re-encodes canonically and decodes to the same pairs.
            assert_eq!(decode_bag(&encode_bag(&bag)).unwrap(), bag, "{s:?}");
        }
        if let Ok(d) = percent_decode(&s) {
            assert_eq!(percent_decode(&percent_encode(&d)).unwrap(), d);
        }
        let _ = twin::parse_topic(&s);
        let _ = twin::parse_request_topic(&s);
        let _ = twin::desired_version(&s);
        let _ = twin::desired_section(&s);
        let _ = methods::parse_request_topic(&s);
        let _ = methods::parse_response_topic(&s);
        let _ = c2d::parse_topic(&s, "dev1", None);
        let _ = c2d::parse_topic(&s, "dev1", Some("m"));
        let _ = telemetry::parse_topic(&s);
        let _ = sas::SasToken::parse(&s);
        let _ = ConnectionString::parse(&s);
    }
}

fn encode_publish(topic: &str, qos: WireQoS, pkid: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Publish::new(topic, qos, payload.to_vec());
    p.pkid = pkid;
    let mut b = BytesMut::new();
    p.write(&mut b).unwrap();
    b.to_vec()
}

fn connected_client() -> (Client, u64) {
    let mut cfg = ClientConfig::from_connection_string(
        "HostName=h;DeviceId=dev1;SharedAccessKey=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    )
    .unwrap();
    cfg.keep_alive_secs = 0;
    let now = 1_700_000_000_000;
    let mut c = Client::new(cfg, now).unwrap();
    c.enable_c2d(now);
    c.enable_methods(now);
    c.enable_twin_desired(now);
    c.connect(now).unwrap();
    c.transport_opened(now);
    let mut b = BytesMut::new();
    ConnAck::new(ConnectReturnCode::Success, false)
        .write(&mut b)
        .unwrap();
    c.handle_bytes(now, &b);
    while c.poll_event().is_some() {}
    while c.poll_transmit().is_some() {}
    (c, now)
}

#[test]
fn client_random_topics_and_bytes_never_panic_succeeds() {
    let mut rng = Rng::new(99);
    let (mut c, now) = connected_client();
    for i in 0..5_000u32 {
        let topic = format!("{}{}", random_string(&mut rng), random_string(&mut rng));
        if topic.is_empty() {
            continue;
        }
        let body = random_string(&mut rng);
        c.handle_bytes(
            now,
            &encode_publish(
                &topic,
                WireQoS::AtLeastOnce,
                (i % 60_000 + 1) as u16,
                body.as_bytes(),
            ),
        );
        while c.poll_event().is_some() {}
        while c.poll_transmit().is_some() {}
    }
    // Random raw bytes: never a panic (they may also just look like an incomplete packet).
    for _ in 0..200 {
        let (mut c, now) = connected_client();
        let junk: Vec<u8> = (0..256).map(|_| rng.next_u32() as u8).collect();
        c.handle_bytes(now, &junk);
        while c.poll_event().is_some() {}
    }
    // Behind a reserved packet type they end the connection with a retryable protocol error.
    let (mut c, now) = connected_client();
    let mut junk: Vec<u8> = vec![0x00, 0x10];
    junk.extend((0..4096).map(|_| rng.next_u32() as u8));
    c.handle_bytes(now, &junk);
    let mut events = Vec::new();
    while let Some(e) = c.poll_event() {
        events.push(e);
    }
    assert!(
        events.iter().any(|e| matches!(
            e,
            HubEvent::Disconnected {
                will_retry: true,
                ..
            }
        )),
        "{events:?}"
    );
}

#[test]
fn client_publish_split_at_every_byte_succeeds() {
    let bytes = encode_publish(
        "$iothub/methods/POST/reboot/?$rid=9",
        WireQoS::AtMostOnce,
        0,
        b"{\"a\":1}",
    );
    for split in 1..bytes.len() {
        let (mut c, now) = connected_client();
        c.handle_bytes(now, &bytes[..split]);
        assert!(
            c.poll_event().is_none(),
            "event before the packet was complete (split {split})"
        );
        c.handle_bytes(now, &bytes[split..]);
        match c.poll_event() {
            Some(HubEvent::MethodCall { rid, name, .. }) => {
                assert_eq!((rid.as_str(), name.as_str()), ("9", "reboot"))
            }
            other => panic!("split {split}: {other:?}"),
        }
    }
}
