//! Scripted tests of what issue 14 added to the core for parity with the official
//! SDKs: X.509 connection strings (no password, no renewal, no `iothub-no-client-cert`
//! query), the keep-alive bound, a provider token's own `se`, `$.ctime`, and the
//! routed-message system properties `$.cdid`/`$.cmid`.

use super::harness::*;
use crate::hub::{Auth, ConnectionString, Credential, NO_CLIENT_CERT_QUERY};

fn x509_config() -> ClientConfig {
    let mut c =
        ClientConfig::from_connection_string("HostName=h.net;DeviceId=dev1;x509=true").unwrap();
    c.keep_alive_secs = 0;
    c.url = Some("ws://127.0.0.1:1/$iothub/websocket".into());
    c
}

#[test]
fn connection_string_x509_true_is_x509_credential_succeeds() {
    let cs =
        ConnectionString::parse("HostName=h;DeviceId=d;ModuleId=m;x509=true;GatewayHostName=g")
            .unwrap();
    assert_eq!(cs.credential, Credential::X509);
    assert_eq!(cs.module_id.as_deref(), Some("m"));
    assert_eq!(cs.connect_host(), "g");
    // x509=false is the default: a key is then required.
    let cs = ConnectionString::parse(&format!(
        "HostName=h;DeviceId=d;x509=false;SharedAccessKey={KEY}"
    ));
    assert!(matches!(
        cs.unwrap().credential,
        Credential::SharedAccessKey { .. }
    ));
}

#[test]
fn connection_string_x509_with_secrets_or_bad_value_fails() {
    let sig = "SharedAccessSignature sr=a&sig=b&se=1";
    let cases = [
        (
            format!("HostName=h;DeviceId=d;x509=true;SharedAccessKey={KEY}"),
            ConnectionStringError::Contradictory(
                "x509",
                "SharedAccessKey or SharedAccessSignature",
            ),
        ),
        (
            format!("HostName=h;DeviceId=d;x509=true;SharedAccessSignature={sig}"),
            ConnectionStringError::Contradictory(
                "x509",
                "SharedAccessKey or SharedAccessSignature",
            ),
        ),
        (
            "HostName=h;DeviceId=d;x509=true;SharedAccessKeyName=device".into(),
            ConnectionStringError::Contradictory(
                "x509",
                "SharedAccessKey or SharedAccessSignature",
            ),
        ),
        (
            "HostName=h;DeviceId=d;x509=yes".into(),
            ConnectionStringError::Invalid("x509", "must be true or false"),
        ),
        (
            "HostName=h;DeviceId=d;x509=TRUE".into(),
            ConnectionStringError::Invalid("x509", "must be true or false"),
        ),
        (
            "HostName=h;DeviceId=d;x509=false".into(),
            ConnectionStringError::Missing("SharedAccessKey"),
        ),
        (
            "HostName=h;DeviceId=d;x509=true;x509=true".into(),
            ConnectionStringError::Duplicate("x509"),
        ),
    ];
    for (s, want) in cases {
        assert_eq!(ConnectionString::parse(&s), Err(want), "{s}");
    }
}

#[test]
fn x509_default_url_has_no_client_cert_query_only_for_tokens_succeeds() {
    let mut x = x509_config();
    x.url = None;
    assert_eq!(x.auth, Auth::X509);
    assert_eq!(x.websocket_url(), "wss://h.net:443/$iothub/websocket");
    let key = ClientConfig::from_connection_string(&cs()).unwrap();
    assert_eq!(
        key.websocket_url(),
        format!("wss://myhub.azure-devices.net:443/$iothub/websocket{NO_CLIENT_CERT_QUERY}")
    );
    let p = ClientConfig::from_token_provider("h.net", "d", None, Some("edge")).unwrap();
    assert_eq!(
        p.websocket_url(),
        format!("wss://edge:443/$iothub/websocket{NO_CLIENT_CERT_QUERY}")
    );
}

#[test]
fn x509_connect_has_username_no_password_and_never_renews_succeeds() {
    let mut h = H::new(x509_config());
    let connect = h.connect();
    let login = connect.login.expect("username");
    assert_eq!(login.username, "h.net/dev1/?api-version=2021-04-12");
    assert_eq!(login.password, "", "no password on the wire");
    assert_eq!(h.take_events(), vec![HubEvent::Connected]);
    // No token, so nothing to renew: no timer at all (keep-alive is off here).
    assert_eq!(h.c.poll_timeout(), None);
    h.run_until(T0 + 48 * 3600 * 1000);
    assert!(h.take_sent().is_empty());
    assert!(h.take_events().is_empty());
    assert_eq!(h.c.state(), ConnectionState::Connected);
    // A lost connection reconnects without a password again.
    h.c.connection_lost(h.now);
    let ev = h.take_events();
    let Some(HubEvent::Reconnecting { delay_ms, .. }) = ev.last() else {
        panic!("no Reconnecting in {ev:?}")
    };
    h.run_until(h.now + delay_ms);
    let again = h.open_and_connack(ConnectReturnCode::Success);
    assert_eq!(again.login.unwrap().password, "");
}

#[test]
fn keep_alive_above_iothub_maximum_fails() {
    let mut c = config();
    c.keep_alive_secs = 1178;
    assert_eq!(
        Client::new(c.clone(), T0).unwrap_err(),
        Error::InvalidArgument("keep_alive_secs must be at most 1177")
    );
    assert_eq!(Error::InvalidArgument("x").code(), "INVALID_ARGUMENT");
    c.keep_alive_secs = crate::hub::MAX_KEEP_ALIVE_SECS;
    let mut h = H::new(c);
    assert_eq!(h.connect().keep_alive, 1177);
}

/// A provider client (ttl 600 s, margin 60 s) connected with `token`, requested to
/// expire at T0 + 600 s.
fn provider_connected_with(token: &str) -> H {
    let mut cfg = ClientConfig::from_token_provider("h.net", "dev1", None, None).unwrap();
    cfg.keep_alive_secs = 0;
    cfg.token_ttl_secs = 600;
    cfg.token_renew_margin_secs = Some(60);
    let mut h = H::new(cfg);
    h.c.connect(h.now).unwrap();
    let requested = T0 / 1000 + 600;
    assert_eq!(
        h.take_events(),
        vec![HubEvent::NeedToken {
            expiry_secs: requested
        }]
    );
    h.c.set_token(h.now, token.into(), requested);
    h.open_and_connack(ConnectReturnCode::Success);
    assert_eq!(h.take_events(), vec![HubEvent::Connected]);
    h
}

fn token_expiring_at(se_secs: u64) -> String {
    format!("SharedAccessSignature sr=h.net%2Fdevices%2Fdev1&sig=abc&se={se_secs}")
}

#[test]
fn provider_token_longer_than_requested_renews_from_its_own_se_succeeds() {
    let se = T0 / 1000 + 7200;
    let mut h = provider_connected_with(&token_expiring_at(se));
    assert_eq!(h.c.poll_timeout(), Some((se - 60) * 1000));
    // Past the requested expiry's renewal time (540 s): nothing happens.
    h.run_until(T0 + 600_000);
    assert!(h.take_events().is_empty());
    h.run_until((se - 60) * 1000);
    assert!(matches!(
        h.take_events().as_slice(),
        [HubEvent::NeedToken { .. }]
    ));
}

#[test]
fn provider_token_shorter_than_requested_renews_before_its_own_se_succeeds() {
    let se = T0 / 1000 + 300;
    let mut h = provider_connected_with(&token_expiring_at(se));
    assert_eq!(h.c.poll_timeout(), Some((se - 60) * 1000));
    h.run_until((se - 60) * 1000 - 1);
    assert!(h.take_events().is_empty());
    h.run_until((se - 60) * 1000);
    assert_eq!(
        h.take_events(),
        vec![HubEvent::NeedToken {
            expiry_secs: se - 60 + 600
        }]
    );
}

#[test]
fn provider_token_inside_the_margin_renews_halfway_not_at_once_succeeds() {
    // 40 s of life with a 60 s margin: renewing "60 s before expiry" would be at once,
    // and again after every reconnect.
    let se = T0 / 1000 + 40;
    let mut h = provider_connected_with(&token_expiring_at(se));
    assert_eq!(h.c.poll_timeout(), Some(T0 + 20_000));
    h.run_until(T0 + 19_999);
    assert!(h.take_events().is_empty());
    h.run_until(T0 + 20_000);
    assert!(matches!(
        h.take_events().as_slice(),
        [HubEvent::NeedToken { .. }]
    ));
}

#[test]
fn provider_token_without_se_renews_from_the_requested_expiry_succeeds() {
    let mut h = provider_connected_with("opaque-token");
    assert_eq!(h.c.poll_timeout(), Some(T0 + 540_000));
    h.run_until(T0 + 540_000);
    assert!(matches!(
        h.take_events().as_slice(),
        [HubEvent::NeedToken { .. }]
    ));
}

#[test]
fn telemetry_creation_time_is_ctime_on_the_wire_succeeds() {
    let mut h = H::new(config());
    h.connect();
    h.take_events();
    let mut m = Telemetry::new("x");
    m.system.creation_time_utc = Some("2030-01-02T03:04:05.006Z".into());
    m.system.to = Some("/devices/dev1/messages/events".into());
    h.c.send_event(h.now, m).unwrap();
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(
        p[0].topic,
        "devices/dev1/messages/events/%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fevents&%24.ctime=2030-01-02T03%3A04%3A05.006Z"
    );
    let back = crate::hub::telemetry::parse_topic(&p[0].topic)
        .unwrap()
        .unwrap();
    assert_eq!(
        back.system.creation_time_utc.as_deref(),
        Some("2030-01-02T03:04:05.006Z")
    );
    assert!(back.properties.is_empty());
}

#[test]
fn module_input_cdid_cmid_are_system_properties_succeeds() {
    let mut cfg = ClientConfig::from_connection_string(&format!(
        "HostName=h.net;DeviceId=dev1;ModuleId=filter;SharedAccessKey={KEY}"
    ))
    .unwrap();
    cfg.keep_alive_secs = 0;
    cfg.url = Some("ws://127.0.0.1:1/$iothub/websocket".into());
    let mut h = H::new(cfg);
    h.c.enable_c2d(h.now);
    h.connect();
    assert_eq!(h.suback_all(), vec!["devices/dev1/modules/filter/inputs/#"]);
    h.take_events();
    let mut p = Publish::new(
        "devices/dev1/modules/filter/inputs/in1/%24.mid=m1&%24.cdid=dev1&%24.cmid=sensor&k=v",
        WireQoS::AtLeastOnce,
        "21.5",
    );
    p.pkid = 9;
    h.feed(Packet::Publish(p));
    let ev = h.take_events();
    let [HubEvent::C2d(m)] = ev.as_slice() else {
        panic!("expected one input message, got {ev:?}")
    };
    assert_eq!(m.input_name.as_deref(), Some("in1"));
    assert_eq!(m.system.message_id.as_deref(), Some("m1"));
    assert_eq!(m.system.connection_device_id.as_deref(), Some("dev1"));
    assert_eq!(m.system.connection_module_id.as_deref(), Some("sensor"));
    assert_eq!(m.properties, vec![("k".into(), Some("v".into()))]);
    assert_eq!(h.take_sent(), vec![Packet::PubAck(PubAck::new(9))]);
}

#[test]
fn set_will_goes_in_connect_and_refuses_what_the_hub_would_fails() {
    let mut h = H::new(config());
    let mut qos2 = Telemetry::new("w");
    qos2.qos = QoS::ExactlyOnce;
    assert_eq!(h.c.set_will(&qos2), Err(Error::QosNotSupported));
    let mut huge = Telemetry::new(vec![0u8; 256 * 1024]);
    huge.qos = QoS::AtMostOnce;
    assert!(matches!(
        h.c.set_will(&huge),
        Err(Error::PayloadTooLarge { .. })
    ));
    let mut will = Telemetry::new("bye").property("k", "v");
    will.system.message_id = Some("w1".into());
    will.qos = QoS::AtMostOnce;
    h.c.set_will(&will).unwrap();
    let connect = h.connect();
    let w = connect.last_will.expect("a will");
    assert_eq!(w.topic, "devices/dev1/messages/events/%24.mid=w1&k=v");
    assert_eq!(&w.message[..], b"bye");
    assert_eq!(w.qos, WireQoS::AtMostOnce);
    assert!(!w.retain);
}
