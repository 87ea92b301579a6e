//! Scripted tests of how long `hub::Client` keeps a direct method call open and
//! what it answers for a handler's oversized payload, on a fake clock.

use super::harness::*;

/// A connected client with methods enabled that has received method call `rid`.
fn with_call(rid: &str) -> H {
    let mut h = H::new(config());
    h.c.enable_methods(h.now);
    h.connect();
    h.suback_all();
    h.take_events();
    call(&mut h, rid);
    h
}

/// The SAS renewal, at three quarters of the token's hour.
const RENEWAL: u64 = T0 + 2_700_000;

fn call(h: &mut H, rid: &str) {
    h.feed(Packet::Publish(Publish::new(
        format!("$iothub/methods/POST/slow/?$rid={rid}"),
        WireQoS::AtMostOnce,
        "{}",
    )));
    assert!(matches!(h.take_events()[..], [HubEvent::MethodCall { .. }]));
}

#[test]
fn method_never_answered_forgotten_after_300_s_fails() {
    let mut h = with_call("1");
    let start = h.now;
    h.run_until(start + 100_000);
    call(&mut h, "2");
    assert_eq!(h.c.open_method_calls(), 2);
    // No timer for it: the only deadline is the SAS renewal (keep_alive 0).
    assert_eq!(h.c.poll_timeout(), Some(RENEWAL));
    h.run_until(start + 300_000);
    assert!(h.take_events().is_empty(), "forgetting reports nothing");
    // An answer to it now is refused and nothing is sent: every hub has given up.
    assert!(matches!(
        h.c.respond_method(h.now, "1", 200, None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(h.take_sent().is_empty());
    // Call 2, 200 s old, is still open (call 1 is dropped when the next call arrives).
    assert_eq!(h.c.open_method_calls(), 2);
    h.c.respond_method(h.now, "2", 200, None).unwrap();
    assert_eq!(
        publishes(&h.take_sent())[0].topic,
        "$iothub/methods/res/200/?$rid=2"
    );
    // What is kept is bounded by the calls of the last 300 s: 1000 calls a second
    // apart, never answered, leave at most 300 open.
    for i in 0..1000u64 {
        h.run_until(h.now + 1_000);
        call(&mut h, &format!("n{i}"));
    }
    assert_eq!(h.c.open_method_calls(), 300);
    assert_eq!(h.c.state(), ConnectionState::Connected);
}

#[test]
fn method_answered_in_time_succeeds() {
    let mut h = with_call("7");
    h.run_until(h.now + 299_999);
    h.c.respond_method(h.now, "7", 200, Some("1".into()))
        .unwrap();
    let sent = h.take_sent();
    assert_eq!(publishes(&sent)[0].topic, "$iothub/methods/res/200/?$rid=7");
    assert_eq!(h.c.open_method_calls(), 0);
    assert!(matches!(
        h.c.respond_method(h.now, "7", 200, None),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn method_oversized_answer_replaced_by_500_fails() {
    let mut h = with_call("9");
    let body = format!("\"{}\"", "x".repeat(128 * 1024));
    assert_eq!(
        h.c.respond_method(h.now, "9", 200, Some(body)),
        Err(Error::PayloadTooLarge {
            size: 128 * 1024 + 2,
            max: 128 * 1024
        })
    );
    // The caller is not left waiting: a 500 with a short message goes out instead.
    let sent = h.take_sent();
    let p = publishes(&sent);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].topic, "$iothub/methods/res/500/?$rid=9");
    assert_eq!(&p[0].payload[..], br#"{"message":"payload over 128 KiB"}"#);
    assert_eq!(h.c.open_method_calls(), 0, "the call is closed");
    // Exactly 128 KiB is allowed.
    call(&mut h, "10");
    let body = format!("\"{}\"", "x".repeat(128 * 1024 - 2));
    h.c.respond_method(h.now, "10", 200, Some(body)).unwrap();
    let sent = h.take_sent();
    assert_eq!(publishes(&sent)[0].payload.len(), 128 * 1024);
}
