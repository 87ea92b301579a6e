//! Scripted tests of `hub::Client`'s connection policy on a fake clock: CONNECT
//! contents, attempts and their deadline, backoff, refusals, transport and token
//! failures reported by the shell, the `connect()` budget, token renewal.

use super::harness::*;

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
        "wss://edge.local:443/$iothub/websocket?iothub-no-client-cert=true"
    );
    assert_eq!(cfg.client_id(), "d/m");
    assert_eq!(cfg.username(), "h.net/d/m/?api-version=2021-04-12");
    let mut h = H::new(cfg);
    h.c.connect(h.now).unwrap();
    assert_eq!(
        h.take_events(),
        vec![HubEvent::OpenTransport {
            url: "wss://edge.local:443/$iothub/websocket?iothub-no-client-cert=true".into()
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
                HubEvent::ConnectFailed {
                    reason: want.clone()
                },
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
    cfg.attempt_timeout_ms = 2_000;
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

// ----- the connect() request and the shell's failure reports -----

/// A config whose attempts never succeed by themselves: 1 s apart, no jitter.
fn policy_config() -> ClientConfig {
    let mut c = config();
    c.retry = Backoff {
        min_ms: 1_000,
        max_ms: 1_000,
        jitter: 0.0,
    };
    c.attempt_timeout_ms = 5_000;
    c.connect_timeout_ms = 10_000;
    c
}

fn connect_failed(ev: &[HubEvent]) -> Vec<Error> {
    ev.iter()
        .filter_map(|e| match e {
            HubEvent::ConnectFailed { reason } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

/// Fails every attempt the way `fail` does until `t`, returning every event.
fn fail_attempts_until(h: &mut H, t: u64, fail: impl Fn(&mut H)) -> Vec<HubEvent> {
    let mut all = Vec::new();
    while h.now < t {
        let ev = h.take_events();
        let open = ev
            .iter()
            .any(|e| matches!(e, HubEvent::OpenTransport { .. }));
        all.extend(ev);
        if open {
            fail(h);
            all.extend(h.take_events());
        }
        match h.c.poll_timeout() {
            Some(next) if next <= t => h.run_until(next),
            _ => h.run_until(t),
        }
    }
    all.extend(h.take_events());
    all
}

#[test]
fn connect_budget_reached_stops_with_last_failure_fails() {
    let mut h = H::new(policy_config());
    h.c.connect(h.now).unwrap();
    let queued = h.c.send_event(h.now, Telemetry::new("x")).unwrap();
    let ev = fail_attempts_until(&mut h, T0 + 10_000, |h| h.c.connection_lost(h.now));
    let url = "ws://127.0.0.1:1/$iothub/websocket".to_owned();
    let not_opened = Error::Transport {
        kind: TransportError::NotOpened,
        status: None,
        detail: Some(url),
    };
    // Attempts at 0, 1, 2, ... s: each socket closed before it opened, retried.
    let retries = ev
        .iter()
        .filter(|e| matches!(e, HubEvent::Reconnecting { .. }))
        .count();
    assert!(retries >= 5, "{ev:?}");
    let want = Error::ConnectTimeout {
        timeout_ms: 10_000,
        last: Some(Box::new(not_opened)),
    };
    assert_eq!(connect_failed(&ev), vec![want.clone()]);
    assert_eq!(want.code(), "TRANSPORT");
    assert!(want.retryable());
    assert!(ev.contains(&HubEvent::Disconnected {
        reason: want.clone(),
        will_retry: false
    }));
    assert!(completed(&ev).contains(&(queued, Err(want))));
    assert_eq!(h.c.state(), ConnectionState::Disconnected);
    assert_eq!(h.c.poll_timeout(), None, "stopped: nothing planned");
}

#[test]
fn connect_budget_reached_before_any_attempt_ended_times_out_fails() {
    let mut cfg = policy_config();
    cfg.attempt_timeout_ms = 60_000;
    let mut h = H::new(cfg);
    h.c.connect(h.now).unwrap();
    h.run_until(T0 + 9_999);
    assert!(connect_failed(&h.take_events()).is_empty());
    h.run_until(T0 + 10_000);
    let ev = h.take_events();
    let want = Error::ConnectTimeout {
        timeout_ms: 10_000,
        last: None,
    };
    assert_eq!(want.code(), "TIMEOUT");
    // The half-open attempt is closed; the client stops.
    assert_eq!(
        ev,
        vec![
            HubEvent::CloseTransport,
            HubEvent::ConnectFailed {
                reason: want.clone()
            },
            HubEvent::Disconnected {
                reason: want,
                will_retry: false
            }
        ]
    );
}

#[test]
fn connect_second_call_joins_pending_request_succeeds() {
    let mut h = H::new(policy_config());
    h.c.connect(h.now).unwrap();
    h.run_until(T0 + 6_000);
    h.c.connect(h.now).unwrap();
    let ev = fail_attempts_until(&mut h, T0 + 10_000, |h| h.c.connection_lost(h.now));
    assert_eq!(
        connect_failed(&ev).len(),
        1,
        "the first call's deadline holds"
    );
}

#[test]
fn connect_refused_fails_at_once_without_retry_fails() {
    let mut h = H::new(policy_config());
    h.c.connect(h.now).unwrap();
    h.open_and_connack(ConnectReturnCode::NotAuthorized);
    let ev = h.take_events();
    assert_eq!(connect_failed(&ev), vec![Error::Unauthorized { code: 5 }]);
    assert_eq!(h.c.poll_timeout(), None);
}

#[test]
fn connect_non_retryable_transport_failure_stops_fails() {
    for kind in [
        TransportError::NoWebSocket,
        TransportError::BadUrl,
        TransportError::NotASocket,
        TransportError::Refused,
    ] {
        let mut h = H::new(policy_config());
        h.c.connect(h.now).unwrap();
        h.take_events();
        h.c.transport_failed(h.now, kind, Some(403), Some("nope".into()));
        let want = Error::Transport {
            kind,
            status: Some(403),
            detail: Some("nope".into()),
        };
        assert_eq!(want.code(), "TRANSPORT");
        assert!(!want.retryable());
        assert_eq!(want.status(), Some(403));
        assert_eq!(
            h.take_events(),
            vec![
                HubEvent::CloseTransport,
                HubEvent::ConnectFailed {
                    reason: want.clone()
                },
                HubEvent::Disconnected {
                    reason: want,
                    will_retry: false
                }
            ],
            "{kind:?}"
        );
        assert_eq!(h.c.poll_timeout(), None, "{kind:?}");
    }
}

#[test]
fn connect_factory_failure_warns_and_retries_succeeds() {
    let mut h = H::new(policy_config());
    h.c.connect(h.now).unwrap();
    h.take_events();
    h.c.transport_failed(
        h.now,
        TransportError::CreateFailed,
        None,
        Some("blocked".into()),
    );
    let err = Error::Transport {
        kind: TransportError::CreateFailed,
        status: None,
        detail: Some("blocked".into()),
    };
    assert_eq!(
        h.take_events(),
        vec![
            HubEvent::Warning(err.clone()),
            HubEvent::Disconnected {
                reason: err,
                will_retry: true
            },
            HubEvent::Reconnecting {
                attempt: 1,
                delay_ms: 1_000
            }
        ]
    );
    h.run_until(T0 + 1_000);
    h.open_and_connack(ConnectReturnCode::Success);
    assert_eq!(h.take_events(), vec![HubEvent::Connected]);
    // The request ended with Connected: what remains planned is the token renewal.
    assert_eq!(
        h.c.poll_timeout(),
        Some(T0 + 2_700_000),
        "token signed at T0"
    );
}

#[test]
fn connect_reconnect_after_success_is_unbounded_succeeds() {
    let mut h = H::new(policy_config());
    h.connect();
    h.take_events();
    h.c.connection_lost(h.now);
    // No connect() request: the client retries for an hour, well past connect_timeout_ms.
    let ev = fail_attempts_until(&mut h, T0 + 3_600_000, |h| h.c.connection_lost(h.now));
    assert!(connect_failed(&ev).is_empty());
    assert!(!ev.iter().any(|e| matches!(
        e,
        HubEvent::Disconnected {
            will_retry: false,
            ..
        }
    )));
    assert_eq!(h.c.state(), ConnectionState::Reconnecting);
    // A connect() made while reconnecting fails at its deadline, and retrying goes on.
    h.c.connect(h.now).unwrap();
    let start = h.now;
    let ev = fail_attempts_until(&mut h, start + 10_000, |h| h.c.connection_lost(h.now));
    assert_eq!(connect_failed(&ev).len(), 1, "{ev:?}");
    assert!(h.c.poll_timeout().is_some(), "still retrying");
    let ev = fail_attempts_until(&mut h, start + 20_000, |h| h.c.connection_lost(h.now));
    assert!(ev
        .iter()
        .any(|e| matches!(e, HubEvent::OpenTransport { .. })));
    assert_eq!(h.c.state(), ConnectionState::Reconnecting);
}

#[test]
fn connect_disconnect_fails_pending_request_with_closed_fails() {
    let mut h = H::new(policy_config());
    h.c.connect(h.now).unwrap();
    h.take_events();
    h.c.disconnect(h.now);
    assert_eq!(
        h.take_events(),
        vec![
            HubEvent::CloseTransport,
            HubEvent::ConnectFailed {
                reason: Error::Closed
            },
            HubEvent::Disconnected {
                reason: Error::Closed,
                will_retry: false
            }
        ]
    );
    assert_eq!(h.c.state(), ConnectionState::Closed);
}

#[test]
fn connect_insecure_url_refused_by_config_fails() {
    let mut cfg = config();
    cfg.url = Some("ws://example.com/$iothub/websocket".into());
    assert_eq!(
        Client::new(cfg.clone(), T0).unwrap_err(),
        Error::InsecureUrl
    );
    assert_eq!(Error::InsecureUrl.code(), "INSECURE_URL");
    cfg.allow_insecure = true;
    assert!(Client::new(cfg.clone(), T0).is_ok());
    cfg.url = Some("http://127.0.0.1/".into());
    assert!(matches!(
        Client::new(cfg, T0).unwrap_err(),
        Error::InvalidArgument(_)
    ));
}

#[test]
fn connect_timeout_error_messages_succeeds() {
    let e = Error::ConnectTimeout {
        timeout_ms: 60_000,
        last: Some(Box::new(Error::ServerUnavailable { code: 3 })),
    };
    assert_eq!(
        e.message(),
        "no connection within the connect timeout (60000 ms); last failure: \
         the hub is unavailable (CONNACK 3); retrying with backoff"
    );
    assert_eq!(e.code(), "SERVER_UNAVAILABLE");
    let t = Error::Transport {
        kind: TransportError::Refused,
        status: Some(401),
        detail: Some("upgrade refused".into()),
    };
    assert_eq!(
        t.to_string(),
        "could not open the WebSocket (HTTP 401): upgrade refused"
    );
}

#[test]
fn connect_network_online_during_backoff_attempts_at_once_succeeds() {
    let mut cfg = config();
    cfg.retry = Backoff {
        min_ms: 30_000,
        max_ms: 60_000,
        jitter: 0.0,
    };
    let mut h = H::new(cfg);
    h.connect();
    h.take_events();
    let op = h.c.send_event(h.now, Telemetry::new("queued")).unwrap();
    h.take_sent();
    h.c.connection_lost(h.now);
    assert!(h.take_events().contains(&HubEvent::Reconnecting {
        attempt: 1,
        delay_ms: 30_000
    }));
    h.run_until(h.now + 1_000);
    assert!(h.take_events().is_empty(), "still backing off");
    // The network is back 1 s into a 30 s backoff: the attempt starts now.
    h.c.network_online(h.now);
    assert_eq!(
        h.take_events(),
        vec![HubEvent::OpenTransport {
            url: "ws://127.0.0.1:1/$iothub/websocket".into()
        }]
    );
    // It fails too: the backoff goes on growing (no reset, so no storm of attempts).
    h.c.connection_lost(h.now);
    assert!(h.take_events().contains(&HubEvent::Reconnecting {
        attempt: 2,
        delay_ms: 60_000
    }));
    h.c.network_online(h.now);
    h.open_and_connack(ConnectReturnCode::Success);
    // The QoS 1 message in flight at the loss is resent and completes on its PUBACK.
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p.len(), 1);
    assert!(p[0].dup);
    h.feed(Packet::PubAck(PubAck::new(p[0].pkid)));
    assert_eq!(completed(&h.take_events()), vec![(op, Ok(OpResult::Sent))]);
}

#[test]
fn connect_network_online_outside_backoff_is_harmless_succeeds() {
    let mut h = H::new(policy_config());
    // Stopped: no attempt, no request.
    h.c.network_online(h.now);
    assert!(h.take_events().is_empty());
    assert_eq!(h.c.state(), ConnectionState::Disconnected);
    assert_eq!(h.c.poll_timeout(), None);
    // Opening: the attempt under way is not doubled.
    h.c.connect(h.now).unwrap();
    h.take_events();
    h.c.network_online(h.now);
    assert!(h.take_events().is_empty());
    // Connecting (CONNECT sent, no CONNACK yet).
    h.c.transport_opened(h.now);
    h.take_sent();
    h.c.network_online(h.now);
    assert!(h.take_events().is_empty());
    assert!(h.take_sent().is_empty());
    // Connected.
    h.feed(Packet::ConnAck(ConnAck::new(
        ConnectReturnCode::Success,
        false,
    )));
    h.take_events();
    h.c.network_online(h.now);
    assert!(h.take_events().is_empty());
    assert!(h.take_sent().is_empty());
    assert_eq!(h.c.state(), ConnectionState::Connected);
    // Closed.
    h.c.disconnect(h.now);
    h.take_events();
    h.c.network_online(h.now);
    assert!(h.take_events().is_empty());
    assert_eq!(h.c.state(), ConnectionState::Closed);
    // Token-provider mode waiting for its token: not asked twice.
    let mut cfg = ClientConfig::from_token_provider("h.net", "dev1", None, None).unwrap();
    cfg.url = Some("ws://127.0.0.1:1/$iothub/websocket".into());
    let mut h = H::new(cfg);
    h.c.connect(h.now).unwrap();
    assert!(matches!(h.take_events()[..], [HubEvent::NeedToken { .. }]));
    h.c.network_online(h.now);
    assert!(h.take_events().is_empty());
}
