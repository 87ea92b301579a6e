//! Scripted tests of `hub::Client` on a fake clock: the "server" is hand-built
//! mqttbytes packets, and everything the client transmits is decoded back.

use bytes::BytesMut;
use mqttbytes::v4::{
    self, ConnAck, ConnectReturnCode, Packet, PubAck, Publish, SubAck, SubscribeReasonCode,
};
use mqttbytes::QoS as WireQoS;

use crate::hub::error::{ConnectionStringError, IdError, IdKind};
use crate::hub::retry::Backoff;
use crate::hub::{
    sas, Client, ClientConfig, ConnectionState, Error, HubEvent, OpId, OpResult, Telemetry,
};
use crate::mqtt::QoS;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const T0: u64 = 1_700_000_000_000;

fn cs() -> String {
    format!("HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey={KEY}")
}

fn config() -> ClientConfig {
    let mut c = ClientConfig::from_connection_string(&cs()).unwrap();
    c.keep_alive_secs = 0;
    c.url = Some("ws://127.0.0.1:1/$iothub/websocket".into());
    c.random_seed = 7;
    c.request_id_seed = 100;
    c
}

fn encode(p: &Packet) -> Vec<u8> {
    let mut b = BytesMut::new();
    match p {
        Packet::ConnAck(x) => x.write(&mut b).unwrap(),
        Packet::Publish(x) => x.write(&mut b).unwrap(),
        Packet::PubAck(x) => x.write(&mut b).unwrap(),
        Packet::SubAck(x) => x.write(&mut b).unwrap(),
        Packet::PingResp => {
            b.extend_from_slice(&[0xd0, 0]);
            2
        }
        other => panic!("test server does not send {other:?}"),
    };
    b.to_vec()
}

/// A client under test, the fake clock, and what it has sent and reported.
struct H {
    c: Client,
    now: u64,
    sent: Vec<Packet>,
    events: Vec<HubEvent>,
}

impl H {
    fn new(config: ClientConfig) -> H {
        let c = Client::new(config, T0).unwrap();
        H {
            c,
            now: T0,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(bytes) = self.c.poll_transmit() {
            let mut buf = BytesMut::from(&bytes[..]);
            while !buf.is_empty() {
                self.sent
                    .push(v4::read(&mut buf, 1 << 20).expect("client sent a valid packet"));
            }
        }
        while let Some(e) = self.c.poll_event() {
            self.events.push(e);
        }
    }

    fn take_sent(&mut self) -> Vec<Packet> {
        self.drain();
        std::mem::take(&mut self.sent)
    }

    fn take_events(&mut self) -> Vec<HubEvent> {
        self.drain();
        std::mem::take(&mut self.events)
    }

    fn feed(&mut self, p: Packet) {
        let bytes = encode(&p);
        self.c.handle_bytes(self.now, &bytes);
        self.drain();
    }

    /// Moves the clock to `t`, firing every timer due on the way.
    fn run_until(&mut self, t: u64) {
        while let Some(next) = self.c.poll_timeout() {
            if next > t {
                break;
            }
            self.now = self.now.max(next);
            self.c.handle_timeout(self.now);
            self.drain();
        }
        self.now = t;
        self.c.handle_timeout(t);
        self.drain();
    }

    /// Expects `OpenTransport`, opens it, expects CONNECT, answers CONNACK(code).
    fn open_and_connack(&mut self, code: ConnectReturnCode) -> v4::Connect {
        let ev = self.take_events();
        assert!(
            ev.iter()
                .any(|e| matches!(e, HubEvent::OpenTransport { .. })),
            "no OpenTransport in {ev:?}"
        );
        self.c.transport_opened(self.now);
        let sent = self.take_sent();
        let connect = match sent.as_slice() {
            [Packet::Connect(c)] => c.clone(),
            other => panic!("expected CONNECT, got {other:?}"),
        };
        self.feed(Packet::ConnAck(ConnAck::new(code, false)));
        connect
    }

    fn connect(&mut self) -> v4::Connect {
        self.c.connect(self.now).unwrap();
        self.open_and_connack(ConnectReturnCode::Success)
    }

    fn suback_all(&mut self) -> Vec<String> {
        let mut filters = Vec::new();
        for p in self.take_sent() {
            match p {
                Packet::Subscribe(s) => {
                    filters.extend(s.filters.iter().map(|f| f.path.clone()));
                    let codes = s
                        .filters
                        .iter()
                        .map(|f| SubscribeReasonCode::Success(f.qos))
                        .collect();
                    self.feed(Packet::SubAck(SubAck::new(s.pkid, codes)));
                }
                other => self.sent.push(other),
            }
        }
        filters
    }
}

fn publishes(sent: &[Packet]) -> Vec<&Publish> {
    sent.iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn completed(events: &[HubEvent]) -> Vec<(OpId, Result<OpResult, Error>)> {
    events
        .iter()
        .filter_map(|e| match e {
            HubEvent::Completed { op, result } => Some((*op, result.clone())),
            _ => None,
        })
        .collect()
}

fn rid_of(topic: &str) -> String {
    topic
        .split("$rid=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

fn twin_response(status: u16, rid: &str, body: &str) -> Packet {
    Packet::Publish(Publish::new(
        crate::hub::twin::response_topic(status, rid, None),
        WireQoS::AtMostOnce,
        body,
    ))
}

#[test]
fn client_connect_username_password_will_succeeds() {
    let mut cfg = config();
    cfg.model_id = Some("dtmi:com:example:Thermostat;1".into());
    cfg.will = Some(Telemetry::new("bye").property("k", "v"));
    let mut h = H::new(cfg);
    assert_eq!(h.c.state(), ConnectionState::Disconnected);
    let connect = h.connect();
    assert_eq!(connect.client_id, "dev1");
    assert!(!connect.clean_session);
    let login = connect.login.unwrap();
    assert_eq!(
        login.username,
        "myhub.azure-devices.net/dev1/?api-version=2021-04-12&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1"
    );
    let tok = sas::SasToken::parse(&login.password).unwrap();
    assert_eq!(tok.resource, "myhub.azure-devices.net/devices/dev1");
    assert_eq!(tok.expiry_secs, T0 / 1000 + 3600);
    assert!(tok.signature_matches(&(0u8..32).collect::<Vec<_>>()));
    let will = connect.last_will.unwrap();
    assert_eq!(will.topic, "devices/dev1/messages/events/k=v");
    assert_eq!(&will.message[..], b"bye");
    assert_eq!(h.take_events(), vec![HubEvent::Connected]);
    assert_eq!(h.c.state(), ConnectionState::Connected);
    // Nothing enabled: nothing subscribed.
    assert!(h.take_sent().is_empty());
}

#[test]
fn client_gateway_url_and_module_identity_succeeds() {
    let cfg = ClientConfig::from_connection_string(&format!(
        "HostName=h.net;DeviceId=d;ModuleId=m;GatewayHostName=edge.local;SharedAccessKey={KEY}"
    ))
    .unwrap();
    assert_eq!(
        cfg.websocket_url(),
        "wss://edge.local:443/$iothub/websocket"
    );
    assert_eq!(cfg.client_id(), "d/m");
    assert_eq!(cfg.username(), "h.net/d/m/?api-version=2021-04-12");
    let mut h = H::new(cfg);
    h.c.connect(h.now).unwrap();
    assert_eq!(
        h.take_events(),
        vec![HubEvent::OpenTransport {
            url: "wss://edge.local:443/$iothub/websocket".into()
        }]
    );
    h.c.transport_opened(h.now);
    let Packet::Connect(c) = &h.take_sent()[0] else {
        panic!()
    };
    let tok = sas::SasToken::parse(&c.login.as_ref().unwrap().password).unwrap();
    assert_eq!(tok.resource, "h.net/devices/d/modules/m");
}

#[test]
fn client_subscribes_only_enabled_features_succeeds() {
    let mut h = H::new(config());
    h.c.enable_c2d(h.now);
    h.c.enable_methods(h.now);
    h.connect();
    let sent = h.take_sent();
    let subs: Vec<(String, WireQoS)> = sent
        .iter()
        .flat_map(|p| match p {
            Packet::Subscribe(s) => s.filters.iter().map(|f| (f.path.clone(), f.qos)).collect(),
            _ => vec![],
        })
        .collect();
    assert_eq!(
        subs,
        vec![
            (
                "devices/dev1/messages/devicebound/#".to_string(),
                WireQoS::AtLeastOnce
            ),
            ("$iothub/methods/POST/#".to_string(), WireQoS::AtMostOnce)
        ]
    );
}

#[test]
fn client_token_renewal_reconnects_before_expiry_succeeds() {
    let mut h = H::new(config());
    let first = h.connect();
    let first_tok = sas::SasToken::parse(&first.login.unwrap().password).unwrap();
    let expiry_ms = first_tok.expiry_secs * 1000;
    h.take_events();
    // Default margin: a quarter of the 3600 s ttl.
    assert_eq!(h.c.poll_timeout(), Some(expiry_ms - 900_000));
    h.run_until(expiry_ms - 900_001);
    assert!(h.take_sent().is_empty());
    assert!(h.take_events().is_empty());
    h.run_until(expiry_ms - 900_000);
    assert!(h.now < expiry_ms);
    assert_eq!(h.take_sent(), vec![Packet::Disconnect]);
    let ev = h.take_events();
    assert_eq!(ev[0], HubEvent::CloseTransport);
    assert!(matches!(ev[1], HubEvent::OpenTransport { .. }));
    h.c.transport_opened(h.now);
    let Packet::Connect(c) = &h.take_sent()[0] else {
        panic!("no CONNECT")
    };
    let tok = sas::SasToken::parse(&c.login.as_ref().unwrap().password).unwrap();
    assert_eq!(tok.expiry_secs, h.now / 1000 + 3600);
    assert!(tok.expiry_secs > first_tok.expiry_secs);
    h.feed(Packet::ConnAck(ConnAck::new(
        ConnectReturnCode::Success,
        true,
    )));
    assert_eq!(h.take_events(), vec![HubEvent::Connected]);
}

#[test]
fn client_token_provider_need_token_and_renewal_succeeds() {
    let mut cfg = ClientConfig::from_token_provider("h.net", "dev1", None, None).unwrap();
    cfg.keep_alive_secs = 0;
    cfg.token_ttl_secs = 600;
    cfg.token_renew_margin_secs = Some(60);
    let mut h = H::new(cfg);
    h.c.connect(h.now).unwrap();
    assert_eq!(
        h.take_events(),
        vec![HubEvent::NeedToken {
            expiry_secs: T0 / 1000 + 600
        }]
    );
    h.c.set_token(
        h.now,
        "SharedAccessSignature sr=a&sig=b&se=1700000600".into(),
        T0 / 1000 + 600,
    );
    let connect = h.open_and_connack(ConnectReturnCode::Success);
    assert_eq!(
        connect.login.unwrap().password,
        "SharedAccessSignature sr=a&sig=b&se=1700000600"
    );
    h.take_events();
    h.run_until(T0 + 540_000);
    assert_eq!(
        h.take_events(),
        vec![HubEvent::NeedToken {
            expiry_secs: T0 / 1000 + 540 + 600
        }]
    );
    // Still connected until the shell answers.
    assert!(h.take_sent().is_empty());
    h.c.set_token(
        h.now,
        "SharedAccessSignature sr=a&sig=c&se=1700001140".into(),
        T0 / 1000 + 1140,
    );
    assert_eq!(h.take_sent(), vec![Packet::Disconnect]);
    let connect = h.open_and_connack(ConnectReturnCode::Success);
    assert_eq!(
        connect.login.unwrap().password,
        "SharedAccessSignature sr=a&sig=c&se=1700001140"
    );
}

#[test]
fn client_backoff_delays_grow_jittered_within_bounds_succeeds() {
    let mut cfg = config();
    cfg.retry = Backoff {
        min_ms: 1000,
        max_ms: 60_000,
        jitter: 0.5,
    };
    let mut h = H::new(cfg);
    h.connect();
    h.take_events();
    h.c.connection_lost(h.now);
    let mut delays = Vec::new();
    for attempt in 1..=9u32 {
        let ev = h.take_events();
        let (a, d) = ev
            .iter()
            .find_map(|e| match e {
                HubEvent::Reconnecting { attempt, delay_ms } => Some((*attempt, *delay_ms)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no Reconnecting in {ev:?}"));
        assert_eq!(a, attempt);
        let base = (1000u64 << (attempt - 1)).min(60_000);
        assert!(
            d >= base / 2 && d <= base,
            "attempt {attempt}: {d} not in [{}, {base}]",
            base / 2
        );
        delays.push(d);
        assert_eq!(h.c.poll_timeout(), Some(h.now + d));
        assert_eq!(h.c.state(), ConnectionState::Reconnecting);
        let start = h.now;
        h.run_until(start + d - 1);
        assert!(h.take_events().is_empty(), "reconnected early");
        h.run_until(start + d);
        let ev = h.take_events();
        assert!(
            matches!(ev.as_slice(), [HubEvent::OpenTransport { .. }]),
            "{ev:?}"
        );
        // The transport fails to open.
        h.c.connection_lost(h.now);
    }
    let bases: Vec<u64> = (0..9).map(|a| (1000u64 << a).min(60_000)).collect();
    assert!(
        delays.iter().zip(&bases).any(|(d, b)| d != b),
        "delays are not jittered: {delays:?}"
    );
    assert!(delays[5] > delays[0] * 8, "delays do not grow: {delays:?}");
}

#[test]
fn client_backoff_resets_after_success_succeeds() {
    let mut cfg = config();
    cfg.retry = Backoff {
        min_ms: 1000,
        max_ms: 60_000,
        jitter: 0.0,
    };
    let mut h = H::new(cfg);
    h.connect();
    h.c.connection_lost(h.now);
    h.take_events();
    h.run_until(h.now + 1000);
    h.c.connection_lost(h.now);
    assert!(h.take_events().contains(&HubEvent::Reconnecting {
        attempt: 2,
        delay_ms: 2000
    }));
    h.run_until(h.now + 2000);
    h.open_and_connack(ConnectReturnCode::Success);
    h.c.connection_lost(h.now);
    assert!(h.take_events().contains(&HubEvent::Reconnecting {
        attempt: 1,
        delay_ms: 1000
    }));
}

#[test]
fn client_bad_credentials_stop_retries_fails() {
    for (code, want) in [
        (
            ConnectReturnCode::NotAuthorized,
            Error::Unauthorized { code: 5 },
        ),
        (
            ConnectReturnCode::BadUserNamePassword,
            Error::Unauthorized { code: 4 },
        ),
    ] {
        let mut h = H::new(config());
        h.c.connect(h.now).unwrap();
        h.open_and_connack(code);
        let ev = h.take_events();
        assert_eq!(
            ev,
            vec![
                HubEvent::CloseTransport,
                HubEvent::Disconnected {
                    reason: want.clone(),
                    will_retry: false
                }
            ]
        );
        assert_eq!(h.c.poll_timeout(), None, "{want:?}: no retry planned");
        h.run_until(h.now + 3_600_000);
        assert!(h.take_events().is_empty());
        assert!(h.take_sent().is_empty());
        assert_eq!(h.c.state(), ConnectionState::Disconnected);
        assert_eq!(want.code(), "UNAUTHORIZED");
        assert!(!want.retryable());
    }
}

#[test]
fn client_twin_request_times_out_fails() {
    let mut cfg = config();
    cfg.operation_timeout_ms = 5_000;
    let mut h = H::new(cfg);
    h.connect();
    let op = h.c.get_twin(h.now).unwrap();
    // The GET waits for the twin subscription.
    assert_eq!(h.suback_all(), vec!["$iothub/twin/res/#".to_string()]);
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].topic, "$iothub/twin/GET/?$rid=100");
    assert_eq!(p[0].qos, WireQoS::AtMostOnce);
    h.take_events();
    h.run_until(T0 + 4_999);
    assert!(completed(&h.take_events()).is_empty());
    h.run_until(T0 + 5_000);
    assert_eq!(completed(&h.take_events()), vec![(op, Err(Error::Timeout))]);
    // A late answer is ignored.
    h.feed(twin_response(200, "100", "{}"));
    assert!(h.take_events().is_empty());
}

#[test]
fn client_twin_get_and_reported_patch_succeeds() {
    let mut h = H::new(config());
    h.connect();
    let get = h.c.get_twin(h.now).unwrap();
    let patch =
        h.c.update_reported(h.now, r#"{"fw":"1.1"}"#.into())
            .unwrap();
    h.suback_all();
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p[0].topic, "$iothub/twin/GET/?$rid=100");
    assert_eq!(
        p[1].topic,
        "$iothub/twin/PATCH/properties/reported/?$rid=101"
    );
    assert_eq!(&p[1].payload[..], br#"{"fw":"1.1"}"#);
    h.take_events();
    let doc = r#"{"desired":{"$version":2},"reported":{"$version":7}}"#;
    h.feed(Packet::Publish(Publish::new(
        crate::hub::twin::response_topic(204, "101", Some(8)),
        WireQoS::AtMostOnce,
        "",
    )));
    h.feed(twin_response(200, "100", doc));
    assert_eq!(
        completed(&h.take_events()),
        vec![
            (patch, Ok(OpResult::Reported { version: Some(8) })),
            (get, Ok(OpResult::Twin(doc.into())))
        ]
    );
    assert_eq!(h.c.last_desired_version(), Some(2));
}

#[test]
fn client_twin_throttled_retried_with_backoff_then_fails() {
    let mut cfg = config();
    cfg.request_retries = 2;
    cfg.request_retry = Backoff {
        min_ms: 100,
        max_ms: 1000,
        jitter: 0.0,
    };
    cfg.operation_timeout_ms = 60_000;
    let mut h = H::new(cfg);
    h.connect();
    let op = h.c.get_twin(h.now).unwrap();
    h.suback_all();
    let mut times = Vec::new();
    for _ in 0..3 {
        let sent = h.take_sent();
        let p = publishes(&sent);
        assert_eq!(p.len(), 1, "{sent:?}");
        times.push(h.now);
        let rid = rid_of(&p[0].topic);
        h.feed(twin_response(429, &rid, ""));
        if let Some(t) = h.c.poll_timeout() {
            h.run_until(t);
        }
    }
    assert_eq!(times, vec![T0, T0 + 100, T0 + 300]);
    assert_eq!(
        completed(&h.take_events()),
        vec![(op, Err(Error::Throttled { status: 429 }))]
    );
}

#[test]
fn client_twin_server_error_retried_then_succeeds() {
    let mut cfg = config();
    cfg.request_retry = Backoff {
        min_ms: 100,
        max_ms: 1000,
        jitter: 0.0,
    };
    let mut h = H::new(cfg);
    h.connect();
    let op = h.c.update_reported(h.now, "{}".into()).unwrap();
    h.suback_all();
    let rid = rid_of(&publishes(&h.take_sent())[0].topic);
    h.feed(twin_response(503, &rid, ""));
    h.run_until(h.now + 100);
    let again = rid_of(&publishes(&h.take_sent())[0].topic);
    assert_eq!(again, rid, "a retry keeps its request id");
    h.feed(twin_response(204, &rid, ""));
    assert_eq!(
        completed(&h.take_events()),
        vec![(op, Ok(OpResult::Reported { version: None }))]
    );
}

#[test]
fn client_twin_bad_request_fails() {
    let mut h = H::new(config());
    h.connect();
    let op = h.c.update_reported(h.now, "{}".into()).unwrap();
    h.suback_all();
    let rid = rid_of(&publishes(&h.take_sent())[0].topic);
    h.feed(twin_response(400, &rid, ""));
    assert_eq!(
        completed(&h.take_events()),
        vec![(op, Err(Error::BadRequest { status: 400 }))]
    );
    assert_eq!(
        h.c.update_reported(h.now, "[1]".into()),
        Err(Error::InvalidArgument(
            "reported patch must be a JSON object"
        ))
    );
}

#[test]
fn client_missed_desired_emitted_once_after_reconnect_succeeds() {
    let mut cfg = config();
    cfg.retry = Backoff {
        min_ms: 1000,
        max_ms: 1000,
        jitter: 0.0,
    };
    let mut h = H::new(cfg);
    h.c.enable_twin_desired(h.now);
    h.connect();
    assert_eq!(
        h.suback_all(),
        vec![
            "$iothub/twin/res/#".to_string(),
            "$iothub/twin/PATCH/properties/desired/#".to_string()
        ]
    );
    // The first connection's GET sets the baseline silently.
    let rid = rid_of(&publishes(&h.take_sent())[0].topic);
    h.feed(twin_response(
        200,
        &rid,
        r#"{"desired":{"fan":1,"$version":3},"reported":{"$version":1}}"#,
    ));
    assert_eq!(h.take_events(), vec![HubEvent::Connected]);
    // A live notification.
    h.feed(Packet::Publish(Publish::new(
        "$iothub/twin/PATCH/properties/desired/?$version=4",
        WireQoS::AtMostOnce,
        r#"{"fan":2,"$version":4}"#,
    )));
    assert_eq!(
        h.take_events(),
        vec![HubEvent::DesiredPatch {
            version: 4,
            json: r#"{"fan":2,"$version":4}"#.into()
        }]
    );
    // Offline while versions 5 and 6 happen.
    h.c.connection_lost(h.now);
    h.take_events();
    h.run_until(h.now + 1000);
    h.open_and_connack(ConnectReturnCode::Success);
    h.suback_all();
    let rid = rid_of(&publishes(&h.take_sent())[0].topic);
    let doc = r#"{"desired":{"fan":{"speed":3},"$version":6},"reported":{"$version":1}}"#;
    h.feed(twin_response(200, &rid, doc));
    let desired: Vec<_> = h
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, HubEvent::DesiredPatch { .. }))
        .collect();
    assert_eq!(
        desired,
        vec![HubEvent::DesiredPatch {
            version: 6,
            json: r#"{"fan":{"speed":3},"$version":6}"#.into()
        }]
    );
    // The hub's own (late) notification of version 6 is not shown twice.
    h.feed(Packet::Publish(Publish::new(
        "$iothub/twin/PATCH/properties/desired/?$version=6",
        WireQoS::AtMostOnce,
        r#"{"fan":{"speed":3},"$version":6}"#,
    )));
    assert!(h.take_events().is_empty());
    // Another reconnect with nothing new: nothing emitted.
    h.c.connection_lost(h.now);
    h.run_until(h.now + 1000);
    h.open_and_connack(ConnectReturnCode::Success);
    h.suback_all();
    let rid = rid_of(&publishes(&h.take_sent())[0].topic);
    h.feed(twin_response(200, &rid, doc));
    assert!(!h
        .take_events()
        .iter()
        .any(|e| matches!(e, HubEvent::DesiredPatch { .. })));
}

#[test]
fn client_method_answered_with_right_rid_succeeds() {
    let mut h = H::new(config());
    h.c.enable_methods(h.now);
    h.connect();
    h.suback_all();
    h.take_events();
    h.feed(Packet::Publish(Publish::new(
        "$iothub/methods/POST/thermostat1*getMaxMinReport/?$rid=42",
        WireQoS::AtMostOnce,
        r#"{"since":"2030"}"#,
    )));
    assert_eq!(
        h.take_events(),
        vec![HubEvent::MethodCall {
            rid: "42".into(),
            name: "thermostat1*getMaxMinReport".into(),
            component: Some("thermostat1".into()),
            command: "getMaxMinReport".into(),
            payload: r#"{"since":"2030"}"#.into(),
        }]
    );
    h.c.respond_method(h.now, "42", 200, Some(r#"{"result":"ok"}"#.into()))
        .unwrap();
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p[0].topic, "$iothub/methods/res/200/?$rid=42");
    assert_eq!(&p[0].payload[..], br#"{"result":"ok"}"#);
    assert_eq!(
        h.c.respond_method(h.now, "42", 200, None),
        Err(Error::InvalidArgument(
            "no open method call with this request id"
        ))
    );
    // An empty body is allowed.
    h.feed(Packet::Publish(Publish::new(
        "$iothub/methods/POST/reboot/?$rid=43",
        WireQoS::AtMostOnce,
        "",
    )));
    h.c.respond_method(h.now, "43", 501, None).unwrap();
    let sent = h.take_sent();
    assert_eq!(
        publishes(&sent)[0].topic,
        "$iothub/methods/res/501/?$rid=43"
    );
    assert!(publishes(&sent)[0].payload.is_empty());
}

#[test]
fn client_c2d_message_decoded_and_acked_succeeds() {
    let mut h = H::new(config());
    h.c.enable_c2d(h.now);
    h.connect();
    h.suback_all();
    h.take_events();
    let mut p = Publish::new(
        "devices/dev1/messages/devicebound/%24.mid=c1&%24.cid=x&iothub-ack=full&plus=1+2&bare",
        WireQoS::AtLeastOnce,
        "hello",
    );
    p.pkid = 9;
    h.feed(Packet::Publish(p));
    assert_eq!(h.take_sent(), vec![Packet::PubAck(PubAck::new(9))]);
    let ev = h.take_events();
    let [HubEvent::C2d(m)] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert_eq!(&m.payload[..], b"hello");
    assert_eq!(m.system.message_id.as_deref(), Some("c1"));
    assert_eq!(m.system.correlation_id.as_deref(), Some("x"));
    assert_eq!(
        m.properties,
        vec![
            ("iothub-ack".into(), Some("full".into())),
            ("plus".into(), Some("1+2".into())),
            ("bare".into(), None)
        ]
    );
}

#[test]
fn client_telemetry_topic_and_qos_succeeds() {
    let mut h = H::new(config());
    h.connect();
    h.take_events();
    let mut m = Telemetry::new(r#"{"t":1}"#).property("k", "v 1");
    m.system.message_id = Some("m4".into());
    m.system.content_type = Some("application/json;charset=utf-8".into());
    let op1 = h.c.send_event(h.now, m).unwrap();
    let mut m0 = Telemetry::new("x");
    m0.qos = QoS::AtMostOnce;
    let op0 = h.c.send_event(h.now, m0).unwrap();
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p[0].topic, "devices/dev1/messages/events/%24.mid=m4&%24.ct=application%2Fjson%3Bcharset%3Dutf-8&k=v%201");
    assert_eq!(p[0].qos, WireQoS::AtLeastOnce);
    assert_eq!(p[1].qos, WireQoS::AtMostOnce);
    // QoS 0 completes when written, QoS 1 on PUBACK.
    assert_eq!(completed(&h.take_events()), vec![(op0, Ok(OpResult::Sent))]);
    h.feed(Packet::PubAck(PubAck::new(p[0].pkid)));
    assert_eq!(completed(&h.take_events()), vec![(op1, Ok(OpResult::Sent))]);
}

#[test]
fn client_offline_qos1_delivered_in_order_after_reconnect_succeeds() {
    let mut cfg = config();
    cfg.retry = Backoff {
        min_ms: 500,
        max_ms: 500,
        jitter: 0.0,
    };
    let mut h = H::new(cfg);
    h.connect();
    h.take_events();
    let mut ops = Vec::new();
    for i in 0..2 {
        ops.push(
            h.c.send_event(h.now, Telemetry::new(format!("m{i}")))
                .unwrap(),
        );
    }
    let first = h.take_sent();
    assert_eq!(publishes(&first).len(), 2);
    // Lost before any PUBACK; more telemetry is accepted while offline.
    h.c.connection_lost(h.now);
    for i in 2..6 {
        ops.push(
            h.c.send_event(h.now, Telemetry::new(format!("m{i}")))
                .unwrap(),
        );
    }
    assert_eq!(h.c.queued_messages(), 4);
    assert!(h.take_sent().is_empty());
    h.run_until(h.now + 500);
    h.open_and_connack(ConnectReturnCode::Success);
    let sent = h.take_sent();
    let p = publishes(&sent);
    let bodies: Vec<&[u8]> = p.iter().map(|p| &p.payload[..]).collect();
    assert_eq!(bodies, vec![&b"m0"[..], b"m1", b"m2", b"m3", b"m4", b"m5"]);
    assert!(p[0].dup && p[1].dup, "in-flight ones are resent with DUP");
    assert!(!p[2].dup);
    assert!(p.iter().all(|p| p.qos == WireQoS::AtLeastOnce));
    assert_eq!(h.c.queued_messages(), 0);
    h.take_events();
    for p in &p {
        h.feed(Packet::PubAck(PubAck::new(p.pkid)));
    }
    let done: Vec<OpId> = completed(&h.take_events())
        .into_iter()
        .map(|(op, r)| {
            assert_eq!(r, Ok(OpResult::Sent));
            op
        })
        .collect();
    assert_eq!(done, ops);
}

#[test]
fn client_full_window_queues_in_order_succeeds() {
    let mut cfg = config();
    cfg.max_inflight = 2;
    let mut h = H::new(cfg);
    h.connect();
    for i in 0..5 {
        h.c.send_event(h.now, Telemetry::new(format!("w{i}")))
            .unwrap();
    }
    let mut bodies = Vec::new();
    let mut sent = h.take_sent();
    assert_eq!(publishes(&sent).len(), 2);
    assert_eq!(h.c.queued_messages(), 3);
    while !publishes(&sent).is_empty() {
        let pk: Vec<u16> = publishes(&sent).iter().map(|p| p.pkid).collect();
        bodies.extend(
            publishes(&sent)
                .iter()
                .map(|p| String::from_utf8(p.payload.to_vec()).unwrap()),
        );
        for id in pk {
            h.feed(Packet::PubAck(PubAck::new(id)));
        }
        sent = h.take_sent();
    }
    assert_eq!(bodies, ["w0", "w1", "w2", "w3", "w4"]);
}

#[test]
fn client_offline_queue_full_fails() {
    let mut cfg = config();
    cfg.queue_max_messages = 2;
    let mut h = H::new(cfg);
    h.c.send_event(h.now, Telemetry::new("a")).unwrap();
    h.c.send_event(h.now, Telemetry::new("b")).unwrap();
    let e = h.c.send_event(h.now, Telemetry::new("c")).unwrap_err();
    assert!(matches!(e, Error::QueueFull { messages: 2, .. }), "{e:?}");
    assert_eq!(e.code(), "QUEUE_FULL");

    let mut cfg = config();
    cfg.queue_max_bytes = 100;
    let mut h = H::new(cfg);
    h.c.send_event(h.now, Telemetry::new(vec![0u8; 50]))
        .unwrap();
    let e =
        h.c.send_event(h.now, Telemetry::new(vec![0u8; 50]))
            .unwrap_err();
    assert!(
        matches!(
            e,
            Error::QueueFull {
                messages: 1,
                bytes: 79
            }
        ),
        "{e:?}"
    );
}

#[test]
fn client_send_event_bad_inputs_fails() {
    let mut h = H::new(config());
    h.connect();
    let mut m = Telemetry::new("x");
    m.qos = QoS::ExactlyOnce;
    assert_eq!(h.c.send_event(h.now, m), Err(Error::QosNotSupported));
    let big = Telemetry::new(vec![0u8; 256 * 1024]);
    let e = h.c.send_event(h.now, big).unwrap_err();
    assert_eq!(
        e,
        Error::PayloadTooLarge {
            size: 256 * 1024 + 29,
            max: 256 * 1024
        }
    );
    assert_eq!(e.code(), "PAYLOAD_TOO_LARGE");
    assert!(publishes(&h.take_sent()).is_empty());
}

#[test]
fn client_disconnect_fails_pending_and_refuses_new_fails() {
    let mut h = H::new(config());
    h.connect();
    h.take_events();
    let op = h.c.send_event(h.now, Telemetry::new("x")).unwrap();
    let tw = h.c.get_twin(h.now).unwrap();
    h.take_sent();
    h.c.disconnect(h.now);
    assert_eq!(h.take_sent(), vec![Packet::Disconnect]);
    let ev = h.take_events();
    assert_eq!(ev[0], HubEvent::CloseTransport);
    let done = completed(&ev);
    assert!(done.contains(&(op, Err(Error::Closed))));
    assert!(done.contains(&(tw, Err(Error::Closed))));
    assert_eq!(h.c.state(), ConnectionState::Closed);
    assert_eq!(
        h.c.send_event(h.now, Telemetry::new("y")),
        Err(Error::Closed)
    );
    assert_eq!(h.c.get_twin(h.now), Err(Error::Closed));
}

#[test]
fn client_protocol_error_closes_and_retries_succeeds() {
    let mut h = H::new(config());
    h.connect();
    h.take_events();
    // A reserved packet type.
    h.c.handle_bytes(h.now, &[0xf0, 0x00]);
    let ev = h.take_events();
    assert_eq!(ev[0], HubEvent::CloseTransport);
    assert!(
        matches!(
            &ev[1],
            HubEvent::Disconnected {
                reason: Error::Protocol(_),
                will_retry: true
            }
        ),
        "{ev:?}"
    );
    assert!(matches!(&ev[2], HubEvent::Reconnecting { attempt: 1, .. }));
}

#[test]
fn client_open_timeout_retries_succeeds() {
    let mut cfg = config();
    cfg.connect_timeout_ms = 2_000;
    let mut h = H::new(cfg);
    h.c.connect(h.now).unwrap();
    h.take_events();
    h.run_until(T0 + 2_000);
    let ev = h.take_events();
    assert_eq!(ev[0], HubEvent::CloseTransport);
    assert_eq!(
        ev[1],
        HubEvent::Disconnected {
            reason: Error::Timeout,
            will_retry: true
        }
    );
}

#[test]
fn client_config_bad_inputs_fails() {
    assert_eq!(
        ClientConfig::from_connection_string("HostName=h;SharedAccessKey=AAAA").unwrap_err(),
        Error::ConnectionString(ConnectionStringError::Missing("DeviceId"))
    );
    assert_eq!(
        ClientConfig::from_token_provider("h", "bad id", None, None).unwrap_err(),
        Error::Id(IdError::InvalidChar(IdKind::Device, ' '))
    );
    assert_eq!(
        ClientConfig::from_token_provider("h", "d", Some(&"m".repeat(129)), None).unwrap_err(),
        Error::Id(IdError::TooLong(IdKind::Module, 129))
    );
    assert_eq!(
        ClientConfig::from_token_provider("", "d", None, None).unwrap_err(),
        Error::InvalidArgument("host name is empty")
    );
    let mut c = config();
    c.retry.min_ms = 10;
    c.retry.max_ms = 5;
    assert!(matches!(Client::new(c, T0), Err(Error::InvalidArgument(_))));
    let mut c = config();
    c.token_renew_margin_secs = Some(3600);
    assert!(matches!(Client::new(c, T0), Err(Error::InvalidArgument(_))));
    let mut c = config();
    let mut will = Telemetry::new("w");
    will.qos = QoS::ExactlyOnce;
    c.will = Some(will);
    assert_eq!(Client::new(c, T0).unwrap_err(), Error::QosNotSupported);
    let mut c = config();
    c.device_id = "a/b".into();
    assert_eq!(
        Client::new(c, T0).unwrap_err(),
        Error::Id(IdError::InvalidChar(IdKind::Device, '/'))
    );
}

#[test]
fn client_fixed_token_expired_stops_fails() {
    let token = sas::token(&[0; 32], "h/devices/d", T0 / 1000 + 10, None);
    let mut cfg = ClientConfig::from_connection_string(&format!(
        "HostName=h;DeviceId=d;SharedAccessSignature={token}"
    ))
    .unwrap();
    cfg.keep_alive_secs = 0;
    let mut h = H::new(cfg);
    let c = h.connect();
    assert_eq!(c.login.unwrap().password, token);
    // No renewal is possible: no renewal timer.
    assert_eq!(h.c.poll_timeout(), None);
    h.take_events();
    h.now += 20_000;
    h.c.connection_lost(h.now);
    h.take_events();
    let t = h.c.poll_timeout().unwrap();
    h.run_until(t);
    let ev = h.take_events();
    assert_eq!(
        ev,
        vec![HubEvent::Disconnected {
            reason: Error::TokenRequired,
            will_retry: false
        }]
    );
}

#[test]
fn client_debug_never_shows_key_succeeds() {
    let mut h = H::new(config());
    let connect = h.connect();
    let password = connect.login.unwrap().password;
    let sig = sas::SasToken::parse(&password).unwrap().signature;
    let events = h.take_events();
    let dump = format!("{:?} {:?} {:#?}", h.c, h.c.config(), events);
    assert!(!dump.contains(KEY), "key leaked");
    assert!(!dump.contains(&sig), "token signature leaked");
    assert!(
        !dump.contains(&crate::hub::encoding::percent_encode(&sig)),
        "token signature leaked"
    );
}

#[test]
fn client_method_answer_after_reconnect_fails() {
    let mut cfg = config();
    cfg.retry = Backoff {
        min_ms: 10,
        max_ms: 10,
        jitter: 0.0,
    };
    let mut h = H::new(cfg);
    h.c.enable_methods(h.now);
    h.connect();
    h.suback_all();
    h.feed(Packet::Publish(Publish::new(
        "$iothub/methods/POST/reboot/?$rid=5",
        WireQoS::AtMostOnce,
        "",
    )));
    h.c.connection_lost(h.now);
    assert_eq!(
        h.c.respond_method(h.now, "5", 200, None),
        Err(Error::Disconnected)
    );
    h.feed(Packet::Publish(Publish::new(
        "$iothub/methods/POST/reboot/?$rid=6",
        WireQoS::AtMostOnce,
        "",
    )));
    h.run_until(h.now + 10);
    h.open_and_connack(ConnectReturnCode::Success);
    h.take_sent();
    // Bytes fed while disconnected were ignored: rid 6 never arrived.
    assert_eq!(
        h.c.respond_method(h.now, "6", 200, None),
        Err(Error::InvalidArgument(
            "no open method call with this request id"
        ))
    );
}

#[test]
fn client_fatal_refusal_fails_queued_messages_fails() {
    let mut h = H::new(config());
    let a = h.c.send_event(h.now, Telemetry::new("a")).unwrap();
    let t = h.c.get_twin(h.now).unwrap();
    h.c.connect(h.now).unwrap();
    h.open_and_connack(ConnectReturnCode::NotAuthorized);
    let ev = h.take_events();
    let done = completed(&ev);
    assert!(
        done.contains(&(a, Err(Error::Unauthorized { code: 5 }))),
        "{ev:?}"
    );
    assert!(
        done.contains(&(t, Err(Error::Unauthorized { code: 5 }))),
        "{ev:?}"
    );
    assert_eq!(h.c.queued_messages(), 0);
}

#[test]
fn client_reconnect_after_disconnect_does_not_resend_failed_succeeds() {
    let mut h = H::new(config());
    h.connect();
    h.c.send_event(h.now, Telemetry::new("old")).unwrap();
    h.take_sent();
    h.c.disconnect(h.now);
    h.take_sent();
    h.take_events();
    h.connect();
    assert_eq!(h.c.state(), ConnectionState::Connected);
    assert!(
        publishes(&h.take_sent()).is_empty(),
        "a message failed with Closed was resent"
    );
}

#[test]
fn client_connack_3_retried_with_backoff_then_connected_succeeds() {
    let mut cfg = config();
    cfg.retry = Backoff {
        min_ms: 1000,
        max_ms: 60_000,
        jitter: 0.0,
    };
    let mut h = H::new(cfg);
    h.c.connect(h.now).unwrap();
    h.c.send_event(h.now, Telemetry::new("kept")).unwrap();
    h.open_and_connack(ConnectReturnCode::ServiceUnavailable);
    let err = Error::ServerUnavailable { code: 3 };
    assert_eq!(
        h.take_events(),
        vec![
            HubEvent::CloseTransport,
            HubEvent::Disconnected {
                reason: err.clone(),
                will_retry: true
            },
            HubEvent::Reconnecting {
                attempt: 1,
                delay_ms: 1000
            }
        ]
    );
    assert!(err.retryable());
    assert_eq!(err.code(), "SERVER_UNAVAILABLE");
    assert_eq!(h.c.state(), ConnectionState::Reconnecting);
    assert_eq!(h.c.poll_timeout(), Some(h.now + 1000));
    let start = h.now;
    h.run_until(start + 999);
    assert!(h.take_events().is_empty(), "reconnected before the backoff");
    h.run_until(start + 1000);
    // Still unavailable: the second delay doubles.
    h.open_and_connack(ConnectReturnCode::ServiceUnavailable);
    assert!(h.take_events().contains(&HubEvent::Reconnecting {
        attempt: 2,
        delay_ms: 2000
    }));
    h.run_until(h.now + 2000);
    h.open_and_connack(ConnectReturnCode::Success);
    assert!(h.take_events().contains(&HubEvent::Connected));
    assert_eq!(h.c.state(), ConnectionState::Connected);
    // The message queued before the outage was not failed: it goes out now.
    let sent = h.take_sent();
    assert!(
        publishes(&sent).iter().any(|p| &p.payload[..] == b"kept"),
        "{sent:?}"
    );
}

#[test]
fn client_default_backoff_full_jitter_within_bounds_succeeds() {
    let mut cfg = config();
    cfg.random_seed = 3;
    assert_eq!(cfg.retry, Backoff::default());
    let mut h = H::new(cfg);
    h.connect();
    h.take_events();
    h.c.connection_lost(h.now);
    let mut below_half = 0;
    for attempt in 1..=12u32 {
        let ev = h.take_events();
        let d = ev
            .iter()
            .find_map(|e| match e {
                HubEvent::Reconnecting { delay_ms, .. } => Some(*delay_ms),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no Reconnecting in {ev:?}"));
        let base = (1000u64 << (attempt - 1)).min(60_000);
        assert!(d <= base, "attempt {attempt}: {d} over {base}");
        if d < base / 2 {
            below_half += 1;
        }
        h.run_until(h.now + d);
        h.take_events();
        h.c.connection_lost(h.now);
    }
    // Full jitter spreads over [0, base]; with jitter 0.5 nothing is below base/2.
    assert!(below_half >= 2, "{below_half} of 12 delays below base/2");
}
