//! Entry points for fuzzing the IoT Hub parsers (cargo-fuzz targets in fuzz/,
//! and the deterministic pass in `hub/tests/fuzz_replay.rs`). Each takes any
//! bytes, must never panic, and asserts what must hold of whatever parses:
//! topics and property bags rebuild to themselves, secrets never show in
//! `Debug` or error text, the twin scanner agrees with itself.

use super::c2d;
use super::connection_string::{ConnectionString, Credential};
use super::encoding::{decode_bag, encode_bag, percent_decode, percent_encode, query_value};
use super::methods;
use super::sas::SasToken;
use super::twin;

/// Inputs longer than this are cut: the parsers are linear, and a bound keeps
/// every allocation of a fuzz run small.
pub const MAX_INPUT: usize = 64 * 1024;

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(&data[..data.len().min(MAX_INPUT)]).into_owned()
}

/// C2D (and module input) topics: the first byte picks device or module identity.
pub fn c2d_topic(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let topic = text(rest);
    let module = (sel & 1 == 1).then_some("m1");
    let Ok(Some(t)) = c2d::parse_topic(&topic, "dev1", module) else {
        return;
    };
    if module.is_none() {
        assert_eq!(t.input_name, None);
        // Whatever parses rebuilds (as the hub would send it) to the same message.
        let again = c2d::topic("dev1", &t.system, &t.properties);
        assert_eq!(
            c2d::parse_topic(&again, "dev1", None),
            Ok(Some(t.clone())),
            "{topic:?} -> {again:?}"
        );
    } else {
        assert!(t.input_name.as_deref().is_some_and(|i| !i.is_empty()));
    }
}

/// Twin response, desired-notification and request topics.
pub fn twin_topic(data: &[u8]) {
    let topic = text(data);
    match twin::parse_topic(&topic) {
        Ok(Some(twin::TwinTopic::Response {
            status,
            rid,
            version,
        })) => {
            let again = twin::response_topic(status, &rid, version);
            assert_eq!(
                twin::parse_topic(&again),
                Ok(Some(twin::TwinTopic::Response {
                    status,
                    rid,
                    version
                })),
                "{topic:?}"
            );
        }
        Ok(Some(twin::TwinTopic::Desired { version })) => {
            let again = twin::desired_topic(version);
            assert_eq!(
                twin::parse_topic(&again),
                Ok(Some(twin::TwinTopic::Desired { version }))
            );
        }
        Ok(None) | Err(_) => {}
    }
    match twin::parse_request_topic(&topic) {
        Ok(Some(twin::TwinRequest::Get { rid })) => assert_eq!(
            twin::parse_request_topic(&twin::get_topic(&rid)),
            Ok(Some(twin::TwinRequest::Get { rid }))
        ),
        Ok(Some(twin::TwinRequest::PatchReported { rid })) => assert_eq!(
            twin::parse_request_topic(&twin::patch_topic(&rid)),
            Ok(Some(twin::TwinRequest::PatchReported { rid }))
        ),
        Ok(None) | Err(_) => {}
    }
}

/// Direct-method request and response topics.
pub fn method_topic(data: &[u8]) {
    let topic = text(data);
    if let Ok(Some(req)) = methods::parse_request_topic(&topic) {
        let (component, command) = req.split();
        assert_eq!(
            component.map_or(0, |c| c.len() + 1) + command.len(),
            req.name.len()
        );
        let again = methods::request_topic(&req.name, &req.rid);
        assert_eq!(
            methods::parse_request_topic(&again),
            Ok(Some(req)),
            "{topic:?}"
        );
    }
    if let Ok(Some((status, rid))) = methods::parse_response_topic(&topic) {
        let again = methods::response_topic(status, &rid);
        assert_eq!(
            methods::parse_response_topic(&again),
            Ok(Some((status, rid)))
        );
    }
}

/// The property-bag decoder and percent-decoding.
pub fn property_bag(data: &[u8]) {
    let s = text(data);
    if let Ok(bag) = decode_bag(&s) {
        let canonical = encode_bag(&bag);
        assert_eq!(decode_bag(&canonical).as_ref(), Ok(&bag), "{s:?}");
        assert_eq!(encode_bag(&bag), canonical, "encoding is deterministic");
        if let Some((k, v)) = bag.first() {
            assert_eq!(query_value(&s, k), Ok(Some(v.clone().unwrap_or_default())));
        }
    } else {
        assert!(query_value(&s, "$rid").is_err());
    }
    if let Ok(d) = percent_decode(&s) {
        assert_eq!(percent_decode(&percent_encode(&d)).as_deref(), Ok(&*d));
    }
}

/// `v` is a secret worth checking for: long, with a digit, no space, so no fixed
/// message text can contain it by chance; `public` is what may legitimately echo it.
fn must_not_leak(v: &str, public: &str) -> bool {
    v.len() >= 16
        && v.bytes().any(|b| b.is_ascii_digit())
        && !v.contains(' ')
        && !public.contains(v)
}

/// Device connection strings: typed errors, and neither the key nor a token in
/// `Debug` of what parsed nor in the text of any error.
pub fn connection_string(data: &[u8]) {
    let s = text(data);
    let mut secrets = Vec::new();
    let mut public = String::new();
    for seg in s.split(';') {
        match seg.split_once('=') {
            Some((k, v))
                if k.trim().starts_with("SharedAccess") && k.trim() != "SharedAccessKeyName" =>
            {
                secrets.push(v.trim().to_owned());
                public.push_str(k);
            }
            _ => public.push_str(seg),
        }
        public.push(';');
    }
    // Debug quotes and escapes the public fields: their shown forms are public too.
    let public = format!("{public} {public:?}");
    let shown = match ConnectionString::parse(&s) {
        Ok(cs) => {
            assert!(!cs.host_name.is_empty() && !cs.device_id.is_empty());
            if let Credential::SharedAccessKey { key, .. } = &cs.credential {
                assert!(!format!("{key:?}").contains(char::is_numeric));
            }
            format!("{cs:?}")
        }
        Err(e) => format!("{e} {e:?}"),
    };
    for v in &secrets {
        if must_not_leak(v, &public) {
            assert!(!shown.contains(v.as_str()), "secret shown: {shown}");
        }
    }
}

/// SAS tokens: fields rebuild to an equivalent token; `Debug` hides the signature.
pub fn sas_token(data: &[u8]) {
    let s = text(data);
    let Ok(t) = SasToken::parse(&s) else {
        return;
    };
    let dbg = format!("{t:?}");
    // What the other fields show (Debug quoting included) may contain the signature's text.
    let public = format!(
        "{:?}",
        SasToken {
            signature: String::new(),
            ..t.clone()
        }
    );
    if must_not_leak(&t.signature, &public) {
        assert!(!dbg.contains(&t.signature), "signature in Debug: {dbg}");
    }
    let mut again = format!(
        "SharedAccessSignature sr={}&sig={}&se={}",
        percent_encode(&t.resource),
        percent_encode(&t.signature),
        t.expiry_secs
    );
    if let Some(k) = &t.key_name {
        again.push_str("&skn=");
        again.push_str(&percent_encode(k));
    }
    let back = SasToken::parse(&again).expect("a rebuilt token parses");
    assert_eq!(
        (
            &back.resource,
            &back.signature,
            back.expiry_secs,
            &back.key_name
        ),
        (&t.resource, &t.signature, t.expiry_secs, &t.key_name)
    );
    let _ = t.signature_matches(&[7u8; 32]);
}

/// The twin JSON scanner: no panic, and `desired_version` agrees with
/// `version_of(desired_section)`, which is a slice of the document.
pub fn twin_json(data: &[u8]) {
    let doc = text(data);
    let version = twin::desired_version(&doc);
    let section = twin::desired_section(&doc);
    if let Some(sec) = section {
        let start = sec.as_ptr() as usize - doc.as_ptr() as usize;
        assert!(
            start + sec.len() <= doc.len(),
            "section outside the document"
        );
        assert_eq!(twin::version_of(sec), version, "{doc:?}");
    } else {
        assert_eq!(version, None, "a version without a desired section");
    }
    let _ = twin::version_of(&doc);
}

/// DPS answer and request topics (`crate::dps::topics`): what parses rebuilds to itself.
pub fn dps_topic(data: &[u8]) {
    use crate::dps::topics;
    let topic = text(data);
    if let Ok(Some(r)) = topics::parse_response_topic(&topic) {
        let again = topics::response_topic(r.status, &r.rid, r.retry_after_secs);
        assert_eq!(
            topics::parse_response_topic(&again),
            Ok(Some(r)),
            "{topic:?}"
        );
    }
    match topics::parse_request_topic(&topic) {
        Ok(Some(topics::Request::Register { rid })) => assert_eq!(
            topics::parse_request_topic(&topics::register_topic(&rid)),
            Ok(Some(topics::Request::Register { rid }))
        ),
        Ok(Some(topics::Request::OperationStatus { rid, operation_id })) => {
            let again = topics::status_topic(&rid, &operation_id);
            assert_eq!(
                topics::parse_request_topic(&again),
                Ok(Some(topics::Request::OperationStatus { rid, operation_id }))
            );
        }
        Ok(None) | Err(_) => {}
    }
}

/// A fuzz entry point.
pub type Entry = fn(&[u8]);

/// Every entry point, by name (for the replay test and the fuzz targets' README).
pub const TARGETS: &[(&str, Entry)] = &[
    ("c2d_topic", c2d_topic),
    ("twin_topic", twin_topic),
    ("method_topic", method_topic),
    ("property_bag", property_bag),
    ("connection_string", connection_string),
    ("sas_token", sas_token),
    ("twin_json", twin_json),
    ("dps_topic", dps_topic),
];
