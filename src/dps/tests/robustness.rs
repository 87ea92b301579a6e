//! Hostile input into the DPS parsers, the JSON scanner, the PnP helpers and a
//! registering client: typed errors or ignored input, never a panic.

use mqttbytes::v4::{Packet, Publish};
use mqttbytes::QoS as WireQoS;

use super::harness::H;
use crate::dps::registration::{parse_operation_status, parse_rejection, request_body};
use crate::dps::topics::{parse_request_topic, parse_response_topic, response_topic};
use crate::dps::{Config, State};
use crate::hub::pnp;
use crate::hub::retry::Rng;

const ALPHABET: &[&str] = &[
    "a",
    "0",
    "%",
    "%2F",
    "%zz",
    "&",
    "=",
    "/",
    "?",
    "$",
    "#",
    " ",
    "ü",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\\",
    ":",
    ",",
    "\\u0024",
    "\\uD800",
    "-1",
    "99999999999999999999",
    "null",
    "true",
    "$rid",
    "$rid=",
    "retry-after=",
    "operationId=",
    "$dps/registrations/res/",
    "$dps/registrations/PUT/iotdps-register/",
    "$dps/registrations/GET/iotdps-get-operationstatus/",
    "200/",
    "202/",
    "429/",
    "\"status\"",
    "\"assigned\"",
    "\"assigning\"",
    "\"operationId\"",
    "\"registrationState\"",
    "\"assignedHub\"",
    "\"deviceId\"",
    "\"errorCode\"",
    "\"__t\"",
    "\"c\"",
    "\"av\"",
    "\"desired\"",
    "\"reported\"",
    "\"$version\"",
];

fn random_string(rng: &mut Rng) -> String {
    let n = (rng.next_u32() % 16) as usize;
    (0..n)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()])
        .collect()
}

#[test]
fn parsers_random_input_never_panic_succeeds() {
    let mut rng = Rng::new(0xd95);
    for _ in 0..20_000 {
        let s = random_string(&mut rng);
        if let Ok(Some(r)) = parse_response_topic(&s) {
            // What parses re-renders (for the emulator) and parses back the same.
            let again = response_topic(r.status, &r.rid, r.retry_after_secs);
            assert_eq!(parse_response_topic(&again), Ok(Some(r)), "{s}");
        }
        let _ = parse_request_topic(&s);
        let _ = parse_operation_status(&s);
        let _ = parse_rejection(400, &s);
        let _ = request_body("r", Some(&s), None);
        let _ = request_body("r", Some(&s), Some("m"));
        let _ = pnp::component_reported("c", &s);
        let _ = pnp::writable_ack(Some("c"), "p", &s, 200, 1, Some(&s));
        let _ = pnp::split_desired(&s);
        let _ = pnp::unacknowledged(&s);
        if let Ok(body) = request_body(&s.replace(['"', '\\'], ""), None, Some(&s)) {
            assert!(
                serde_json::from_str::<serde_json::Value>(&body).is_ok(),
                "{body}"
            );
        }
    }
}

#[test]
fn pnp_outputs_are_json_for_valid_inputs_succeeds() {
    let mut rng = Rng::new(7);
    for _ in 0..5_000 {
        let name = random_string(&mut rng);
        let value = serde_json::Value::String(random_string(&mut rng)).to_string();
        if name.is_empty() {
            continue;
        }
        let ack = pnp::writable_ack(Some(&name), &name, &value, 200, 3, Some(&name)).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&ack).unwrap_or_else(|e| panic!("{ack}: {e}"));
        assert_eq!(v[&name][&name]["av"], 3);
        let obj = format!("{{\"k\":{value}}}");
        let rep = pnp::component_reported(&name, &obj).unwrap();
        let v: serde_json::Value = serde_json::from_str(&rep).unwrap();
        assert_eq!(v[&name]["__t"], "c");
    }
}

#[test]
fn registering_client_random_answers_never_panic_succeeds() {
    let mut rng = Rng::new(0xbad);
    for i in 0..2_000 {
        let mut c = Config::from_symmetric_key("0ne1", "dev", "AAAA").unwrap();
        c.url = Some("ws://localhost/$iothub/websocket".into());
        c.random_seed = i;
        let mut h = H::new(c);
        let (_, (topic, _)) = h.start();
        let rid = H::rid_of(&topic);
        for _ in 0..4 {
            let status =
                [200, 202, 400, 401, 404, 429, 500, 503, 999][(rng.next_u32() % 9) as usize];
            let t = if rng.next_u32() & 3 == 0 {
                random_string(&mut rng)
            } else {
                format!(
                    "$dps/registrations/res/{status}/?$rid={rid}&retry-after={}",
                    random_string(&mut rng)
                )
            };
            if t.is_empty() || t.contains(['#', '+', '\0']) {
                continue;
            }
            let body = random_string(&mut rng);
            h.feed(Packet::Publish(Publish::new(
                t,
                WireQoS::AtMostOnce,
                body.into_bytes(),
            )));
            let at = h.now + 5_000;
            h.run_until(at);
            if h.c.state() != State::Registering {
                break;
            }
        }
        // Raw garbage on the socket ends in a typed reconnect or failure, not a panic.
        let junk: Vec<u8> = (0..(rng.next_u32() % 64))
            .map(|_| rng.next_u32() as u8)
            .collect();
        h.c.handle_bytes(h.now, &junk);
        h.take_events();
    }
}
