//! Scripted tests of `hub::Client`'s SAS tokens on a fake clock: renewal before
//! expiry, the token provider (asked, failing), fixed tokens, and no secret in `Debug`.

use super::harness::*;

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
fn connect_token_provider_failure_while_connecting_stops_fails() {
    let cfg = ClientConfig::from_token_provider("myhub.azure-devices.net", "dev1", None, None)
        .map(|mut c| {
            c.url = Some("ws://127.0.0.1:1/$iothub/websocket".into());
            c
        })
        .unwrap();
    let mut h = H::new(cfg);
    h.c.connect(h.now).unwrap();
    assert!(matches!(h.take_events()[..], [HubEvent::NeedToken { .. }]));
    h.c.token_failed(h.now, TokenError::Failed, Some("offline".into()));
    let want = Error::Token {
        kind: TokenError::Failed,
        detail: Some("offline".into()),
    };
    assert_eq!(want.code(), "UNAUTHORIZED");
    assert_eq!(
        Error::Token {
            kind: TokenError::NotAToken,
            detail: None
        }
        .code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        h.take_events(),
        vec![
            HubEvent::ConnectFailed {
                reason: want.clone()
            },
            HubEvent::Disconnected {
                reason: want,
                will_retry: false
            }
        ]
    );
    // A later connect() asks again.
    h.c.connect(h.now).unwrap();
    assert!(matches!(h.take_events()[..], [HubEvent::NeedToken { .. }]));
}

#[test]
fn connect_token_renewal_failure_keeps_connection_succeeds() {
    let cfg = ClientConfig::from_token_provider("myhub.azure-devices.net", "dev1", None, None)
        .map(|mut c| {
            c.url = Some("ws://127.0.0.1:1/$iothub/websocket".into());
            c.keep_alive_secs = 0;
            c
        })
        .unwrap();
    let mut h = H::new(cfg);
    h.c.connect(h.now).unwrap();
    h.take_events();
    h.c.set_token(
        h.now,
        "SharedAccessSignature sr=x&sig=y&se=1".into(),
        T0 / 1000 + 3600,
    );
    h.open_and_connack(ConnectReturnCode::Success);
    h.take_events();
    h.run_until(T0 + 2_700_000); // renewal due at ttl - ttl/4
    assert!(matches!(h.take_events()[..], [HubEvent::NeedToken { .. }]));
    h.c.token_failed(h.now, TokenError::NotAToken, None);
    assert_eq!(
        h.take_events(),
        vec![HubEvent::Warning(Error::Token {
            kind: TokenError::NotAToken,
            detail: None
        })]
    );
    assert_eq!(h.c.state(), ConnectionState::Connected);
}
