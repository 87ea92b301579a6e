//! No key or token in `Debug` or error text: whatever the app logs of the core —
//! a connection string, a config, the client at any stage, every event and every
//! error — must not show the device key, the SAS token the client sent, or its
//! signature (the e2e and soak runs scan their logs for the same, docs/reliability.md).

use bytes::BytesMut;
use mqttbytes::v4::{self, ConnAck, ConnectReturnCode, Packet};

use crate::hub::encoding::percent_decode;
use crate::hub::{Client, ClientConfig, ConnectionString, Error, HubEvent};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const T0: u64 = 1_700_000_000_000;

fn connack(code: ConnectReturnCode) -> Vec<u8> {
    let mut b = BytesMut::new();
    ConnAck::new(code, false).write(&mut b).unwrap();
    b.to_vec()
}

/// Everything printable about the client after one step, plus the CONNECT password if one was sent.
fn step(c: &mut Client, shown: &mut Vec<String>) -> Option<String> {
    let mut password = None;
    while let Some(bytes) = c.poll_transmit() {
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(p) = v4::read(&mut buf, 1 << 20) {
            if let Packet::Connect(connect) = p {
                password = connect.login.map(|l| l.password);
            }
        }
    }
    while let Some(e) = c.poll_event() {
        shown.push(format!("{e:?}"));
        if let HubEvent::Disconnected { reason, .. } = &e {
            shown.push(format!("{reason} {:?} {}", reason, reason.code()));
        }
    }
    shown.push(format!("{c:?}"));
    shown.push(format!("{:?}", c.config()));
    password
}

fn assert_hidden(shown: &[String], secrets: &[String]) {
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        for text in shown {
            assert!(!text.contains(s.as_str()), "secret {s:?} shown in {text}");
        }
    }
}

fn token_secrets(token: &str) -> Vec<String> {
    let sig = token
        .split(['&', ' '])
        .find_map(|p| p.strip_prefix("sig="))
        .expect("a sig field")
        .to_string();
    vec![token.to_string(), percent_decode(&sig).unwrap(), sig]
}

#[test]
fn debug_and_errors_never_show_key_or_token_succeeds() {
    let cs = format!("HostName=h.example;DeviceId=dev1;SharedAccessKey={KEY}");
    let mut shown = vec![format!("{:?}", ConnectionString::parse(&cs).unwrap())];
    let mut config = ClientConfig::from_connection_string(&cs).unwrap();
    config.url = Some("ws://127.0.0.1:1/$iothub/websocket".into());
    let mut c = Client::new(config, T0).unwrap();
    c.enable_c2d(T0);
    c.connect(T0).unwrap();
    step(&mut c, &mut shown);
    c.transport_opened(T0);
    let token = step(&mut c, &mut shown).expect("CONNECT carried a token");
    c.handle_bytes(T0, &connack(ConnectReturnCode::Success));
    step(&mut c, &mut shown);
    c.handle_bytes(T0, &[0x00, 0x00]); // a protocol error: Disconnected, Reconnecting
    step(&mut c, &mut shown);
    c.handle_timeout(T0 + 120_000);
    step(&mut c, &mut shown);
    c.transport_opened(T0 + 120_000);
    step(&mut c, &mut shown);
    c.handle_bytes(T0 + 120_000, &connack(ConnectReturnCode::NotAuthorized));
    step(&mut c, &mut shown);
    for e in [
        ConnectionString::parse("HostName=h;DeviceId=d;SharedAccessKey=%%%not-base64-0123456789")
            .unwrap_err()
            .to_string(),
        format!("{:?}", Error::Unauthorized { code: 5 }),
    ] {
        shown.push(e);
    }
    let mut secrets = vec![KEY.to_string(), "%%%not-base64-0123456789".to_string()];
    secrets.extend(token_secrets(&token));
    assert!(shown.len() > 10);
    assert_hidden(&shown, &secrets);
}

#[test]
fn debug_of_token_modes_never_shows_the_token_succeeds() {
    let token = "SharedAccessSignature sr=h.example%2Fdevices%2Fdev1&sig=c2VjcmV0LXNpZ25hdHVyZS0wMTIzNDU2Nzg5&se=4102444800";
    let cs = format!("HostName=h.example;DeviceId=dev1;SharedAccessSignature={token}");
    let mut shown = vec![format!("{:?}", ConnectionString::parse(&cs).unwrap())];
    let mut c = Client::new(ClientConfig::from_connection_string(&cs).unwrap(), T0).unwrap();
    c.connect(T0).unwrap();
    step(&mut c, &mut shown);
    c.transport_opened(T0);
    assert_eq!(step(&mut c, &mut shown).as_deref(), Some(token));

    let mut p = Client::new(
        ClientConfig::from_token_provider("h.example", "dev1", None, None).unwrap(),
        T0,
    )
    .unwrap();
    p.connect(T0).unwrap();
    step(&mut p, &mut shown);
    p.set_token(T0, token.to_string(), 4_102_444_800);
    step(&mut p, &mut shown);
    assert_hidden(&shown, &token_secrets(token));
}
