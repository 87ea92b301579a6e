//! Every case of `shared/vectors/iothub.json` (produced by the official SDKs).

use serde_json::Value;

use crate::hub::{c2d, methods, sas, telemetry, twin, username};

const VECTORS: &str = include_str!("iothub.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("vector file is JSON")
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn pairs(v: &Value, k: &str) -> Vec<(String, String)> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p[0].as_str().unwrap().to_owned(),
                        p[1].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn vectors_copy_matches_shared_succeeds() {
    // The repository carries a copy so `cargo test` runs anywhere; keep it identical to the shared
    // one, found beside the clone (CI checks out `shared/` next to it).
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/iothub.json");
    match std::fs::read_to_string(path) {
        Ok(shared) => assert_eq!(
            shared, VECTORS,
            "src/hub/tests/iothub.json drifted from {path}"
        ),
        Err(e) => {
            let required = ["CI", "HUBWIRE_REQUIRE_PEERS"]
                .iter()
                .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
            assert!(
                !required,
                "{path}: {e} (CI or HUBWIRE_REQUIRE_PEERS is set, so the shared vectors must be present)"
            );
            println!("SKIP vectors_copy_matches_shared_succeeds: {path}: {e}");
        }
    }
}

#[test]
fn sas_vectors_succeeds() {
    let v = vectors();
    let sasv = &v["sas"];
    let key = crate::hub::SymmetricKey::from_base64(s(sasv, "key_base64").unwrap()).unwrap();
    let host = s(sasv, "host").unwrap();
    let expiry = sasv["expiry"].as_u64().unwrap();
    let cases = sasv["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let name = s(case, "name").unwrap();
        let resource = sas::resource(host, s(case, "device_id").unwrap(), s(case, "module_id"));
        let sr = crate::hub::encoding::percent_encode(&resource);
        if let Some(sts) = s(case, "string_to_sign") {
            assert_eq!(sas::string_to_sign(&sr, expiry), sts, "{name}");
        }
        if let Some(sig) = s(case, "signature") {
            assert_eq!(
                sas::sign(key.bytes(), &sas::string_to_sign(&sr, expiry)),
                sig,
                "{name}"
            );
        }
        let key_name = s(case, "key_name");
        let tok = sas::token(key.bytes(), &resource, expiry, key_name);
        let want = s(case, "token")
            .or_else(|| s(case, "token_node_order"))
            .unwrap();
        assert_eq!(tok, want, "{name}");
        let parsed = sas::SasToken::parse(want).unwrap();
        assert_eq!(parsed.resource, resource);
        assert_eq!(parsed.expiry_secs, expiry);
        assert_eq!(parsed.key_name.as_deref(), key_name);
        assert!(parsed.signature_matches(key.bytes()), "{name}");
    }
}

#[test]
fn telemetry_topic_vectors_succeeds() {
    let v = vectors();
    let cases = v["telemetry_topics"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let sys = telemetry::SystemProperties {
            message_id: s(case, "message_id").map(Into::into),
            correlation_id: s(case, "correlation_id").map(Into::into),
            content_type: s(case, "content_type").map(Into::into),
            content_encoding: s(case, "content_encoding").map(Into::into),
            ..Default::default()
        };
        let props = pairs(case, "properties");
        let device = s(case, "device_id").unwrap();
        let module = s(case, "module_id");
        let t = telemetry::topic(device, module, &sys, &props);
        assert_eq!(t, s(case, "topic").unwrap(), "{}", s(case, "name").unwrap());
        let back = telemetry::parse_topic(&t).unwrap().unwrap();
        assert_eq!(back.device_id, device);
        assert_eq!(back.module_id.as_deref(), module);
        assert_eq!(back.system, sys);
        let want: Vec<(String, Option<String>)> =
            props.into_iter().map(|(k, v)| (k, Some(v))).collect();
        assert_eq!(back.properties, want);
    }
}

#[test]
fn username_vectors_succeeds() {
    let v = vectors();
    let cases = v["usernames"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    let host = "myhub.azure-devices.net";
    let got = [
        username::username(host, "dev1", None),
        username::username(host, "dev1", Some("mod1")),
        username::Username {
            host,
            device_id: "dev1",
            module_id: None,
            api_version: username::DEFAULT_API_VERSION,
            model_id: Some("dtmi:com:example:Thermostat;1"),
            product_info: None,
        }
        .render(),
    ];
    for (case, got) in cases.iter().zip(got) {
        assert_eq!(
            got,
            s(case, "value").unwrap(),
            "{}",
            s(case, "name").unwrap()
        );
    }
}

#[test]
fn c2d_decode_vectors_succeeds() {
    let v = vectors();
    let cases = v["c2d_decode"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let topic = s(case, "topic").unwrap();
        let c = c2d::parse_topic(topic, "dev1", None).unwrap().unwrap();
        assert_eq!(
            c.system.message_id.as_deref(),
            s(case, "message_id"),
            "{topic}"
        );
        assert_eq!(
            c.system.correlation_id.as_deref(),
            s(case, "correlation_id")
        );
        assert_eq!(c.system.to.as_deref(), s(case, "to"));
        assert_eq!(c.system.expiry.as_deref(), s(case, "expiry"));
        let want: Vec<(String, Option<String>)> = pairs(case, "properties")
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        assert_eq!(c.properties, want);
    }
}

#[test]
fn twin_topic_vectors_succeeds() {
    let v = vectors();
    let cases = v["twin_topics"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let topic = s(case, "topic").unwrap();
        let got = twin::parse_topic(topic).unwrap().unwrap();
        let want = match case.get("desired_version").and_then(Value::as_u64) {
            Some(version) => twin::TwinTopic::Desired { version },
            None => twin::TwinTopic::Response {
                status: case["status"].as_u64().unwrap() as u16,
                rid: s(case, "rid").unwrap().to_owned(),
                version: case.get("version").and_then(Value::as_u64),
            },
        };
        assert_eq!(got, want, "{topic}");
        // The builders the emulator uses produce the same topics.
        let rebuilt = match &want {
            twin::TwinTopic::Desired { version } => twin::desired_topic(*version),
            twin::TwinTopic::Response {
                status,
                rid,
                version,
            } => twin::response_topic(*status, rid, *version),
        };
        assert_eq!(rebuilt, topic);
    }
}

#[test]
fn method_topic_vectors_succeeds() {
    let v = vectors();
    let cases = v["method_topics"].as_array().unwrap();
    assert_eq!(cases.len(), 1);
    for case in cases {
        let topic = s(case, "topic").unwrap();
        let req = methods::parse_request_topic(topic).unwrap().unwrap();
        assert_eq!(req.name, s(case, "method").unwrap());
        assert_eq!(req.rid, s(case, "rid").unwrap());
        assert_eq!(
            methods::response_topic(200, &req.rid),
            s(case, "response_topic_for_200").unwrap()
        );
        assert_eq!(methods::request_topic(&req.name, &req.rid), topic);
    }
}

#[test]
fn capture_c2d_plus_line_succeeds() {
    // The official Node SDK capture: the hub sends a raw '+' in a C2D bag; it means '+'.
    let capture = include_str!("official-node-sdk-wire-capture.jsonl");
    let line = capture
        .lines()
        .find(|l| l.contains("plus=1+2"))
        .expect("capture line");
    let ev: Value = serde_json::from_str(line).unwrap();
    let c = c2d::parse_topic(s(&ev, "topic").unwrap(), "dev1", None)
        .unwrap()
        .unwrap();
    let plus = c.properties.iter().find(|(k, _)| k == "plus").unwrap();
    assert_eq!(plus.1.as_deref(), Some("1+2"));
}
