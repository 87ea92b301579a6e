//! Hostile-server packets for the `malformed` fault: what a broken or malicious
//! endpoint can send a device (docs/service-api.md lists the variants). Each one
//! must make a client end the connection with a typed error and reconnect.

use super::*;

/// A malformed or unexpected thing the hub sends to test a client's defences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedVariant {
    /// A PUBLISH whose remaining length runs past four bytes.
    BadRemainingLength,
    /// A PUBLISH header announcing 128 MiB, followed by a few bytes only.
    Oversized,
    /// A PUBLISH header announcing MQTT's largest remaining length, 268,435,455 bytes.
    MaxRemainingLength,
    /// A PUBLISH header announcing 300 MB (a five-byte length, as a broken server writes it).
    Length300Mb,
    /// A well-formed SUBSCRIBE, which a server never sends to a client.
    UnexpectedType,
    /// A CONNECT (client to server only).
    Connect,
    /// An UNSUBSCRIBE (client to server only).
    Unsubscribe,
    /// A PINGREQ (client to server only).
    PingReq,
    /// A DISCONNECT (client to server only in MQTT 3.1.1).
    Disconnect,
    /// A PUBREL for a QoS 2 flow the client never started.
    PubRel,
    /// Packet type 0 (reserved).
    Reserved0,
    /// Packet type 15 (reserved).
    Reserved15,
    /// A PUBACK for a packet id the client has not used (65535).
    UnknownPuback,
    /// A SUBACK for a packet id the client has not used (65535).
    UnknownSuback,
    /// A PUBLISH whose topic is not UTF-8.
    InvalidUtf8Topic,
    /// A PUBLISH with both QoS bits set (QoS 3).
    Qos3,
    /// The next `count` CONNECTs are answered with a CONNACK carrying return code `code` (> 5).
    ConnackUnknownCode {
        /// The return code (MQTT 3.1.1 defines 0..=5).
        code: u8,
        /// How many CONNECTs.
        count: u32,
    },
    /// Half of a PUBLISH, then the transport is dropped.
    CloseMidPacket,
    /// A WebSocket text frame (MQTT over WebSocket is binary only, MQTT 3.1.1 §6).
    TextFrame,
    /// `count` QoS 1 cloud-to-device PUBLISHes of `size` bytes at once, as fast as
    /// the transport takes them.
    Flood {
        /// Messages.
        count: u32,
        /// Body bytes of each.
        size: u32,
    },
}

/// The `variant` names of the service API, in [`MalformedVariant`] order.
pub const VARIANT_NAMES: &[&str] = &[
    "badRemainingLength",
    "oversized",
    "maxRemainingLength",
    "length300MB",
    "unexpectedType",
    "connect",
    "unsubscribe",
    "pingreq",
    "disconnect",
    "pubrel",
    "reserved0",
    "reserved15",
    "unknownPuback",
    "unknownSuback",
    "invalidUtf8Topic",
    "qos3",
    "connackUnknownCode",
    "closeMidPacket",
    "textFrame",
    "flood",
];

/// Most messages a flood may ask for, and the largest body (the hub's memory is at stake).
pub const FLOOD_MAX_COUNT: u32 = 100_000;
/// Largest body of one flood message.
pub const FLOOD_MAX_SIZE: u32 = 64 * 1024;

/// Parses the `variant` (and its parameters) of a `{kind: "malformed"}` fault body.
pub fn parse_variant(v: &Value) -> Result<MalformedVariant, ServiceError> {
    use MalformedVariant as M;
    let num = |k: &str, default: u64, max: u64| {
        v.get(k).and_then(Value::as_u64).unwrap_or(default).min(max)
    };
    Ok(match v.get("variant").and_then(Value::as_str) {
        Some("badRemainingLength") => M::BadRemainingLength,
        Some("oversized") => M::Oversized,
        Some("maxRemainingLength") => M::MaxRemainingLength,
        Some("length300MB") => M::Length300Mb,
        Some("unexpectedType") => M::UnexpectedType,
        Some("connect") => M::Connect,
        Some("unsubscribe") => M::Unsubscribe,
        Some("pingreq") => M::PingReq,
        Some("disconnect") => M::Disconnect,
        Some("pubrel") => M::PubRel,
        Some("reserved0") => M::Reserved0,
        Some("reserved15") => M::Reserved15,
        Some("unknownPuback") => M::UnknownPuback,
        Some("unknownSuback") => M::UnknownSuback,
        Some("invalidUtf8Topic") => M::InvalidUtf8Topic,
        Some("qos3") => M::Qos3,
        Some("connackUnknownCode") => {
            let code = num("code", 6, 255) as u8;
            if code <= 5 {
                return Err(ServiceError::BadRequest(
                    "connackUnknownCode needs a code above 5".into(),
                ));
            }
            M::ConnackUnknownCode {
                code,
                count: num("count", 1, u64::from(u32::MAX)) as u32,
            }
        }
        Some("closeMidPacket") => M::CloseMidPacket,
        Some("textFrame") => M::TextFrame,
        Some("flood") => M::Flood {
            count: num("count", 1000, u64::from(FLOOD_MAX_COUNT)) as u32,
            size: num("size", 1024, u64::from(FLOOD_MAX_SIZE)) as u32,
        },
        _ => {
            return Err(ServiceError::BadRequest(format!(
                "variant must be one of {}",
                VARIANT_NAMES.join(", ")
            )))
        }
    })
}

/// A remaining-length varint with no four-byte limit (what a broken server writes).
fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// A QoS 0 PUBLISH header announcing `remaining` bytes, then a topic and a few bytes only.
fn announced(remaining: u64) -> Vec<u8> {
    let mut b = vec![0x30];
    b.extend(varint(remaining));
    b.extend_from_slice(&[0x00, 0x01, b'x']);
    b.extend_from_slice(&[0u8; 61]);
    b
}

fn publish_bytes(topic: &str, qos: QoS, pkid: u16, body: &[u8]) -> Vec<u8> {
    let mut p = Publish::new(topic, qos, body.to_vec());
    p.pkid = pkid;
    encode(&Packet::Publish(p))
}

/// The bytes of a variant that is a byte string on the wire (empty for the others:
/// [`MalformedVariant::ConnackUnknownCode`], [`MalformedVariant::TextFrame`],
/// [`MalformedVariant::Flood`]; [`MalformedVariant::CloseMidPacket`] gives the half packet).
pub fn malformed_bytes(v: MalformedVariant) -> Vec<u8> {
    use MalformedVariant as M;
    match v {
        M::BadRemainingLength => vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        // remaining length 128 MiB = 0x0800_0000: 0x80 0x80 0x80 0x40
        M::Oversized => announced(128 << 20),
        M::MaxRemainingLength => announced(codec::MAX_REMAINING_LENGTH as u64),
        M::Length300Mb => announced(300_000_000),
        M::UnexpectedType => {
            let mut b = BytesMut::new();
            let _ = v4::Subscribe::new("x", QoS::AtMostOnce).write(&mut b);
            b.to_vec()
        }
        M::Connect => {
            let mut c = v4::Connect::new("hub");
            c.keep_alive = 60;
            encode(&Packet::Connect(c))
        }
        M::Unsubscribe => vec![0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, b'#'],
        M::PingReq => vec![0xC0, 0x00],
        M::Disconnect => vec![0xE0, 0x00],
        M::PubRel => vec![0x62, 0x02, 0x00, 0x01],
        M::Reserved0 => vec![0x00, 0x00],
        M::Reserved15 => vec![0xF0, 0x00],
        M::UnknownPuback => vec![0x40, 0x02, 0xFF, 0xFF],
        M::UnknownSuback => vec![0x90, 0x03, 0xFF, 0xFF, 0x01],
        // topic "\xC3\x28": an invalid two-byte UTF-8 sequence.
        M::InvalidUtf8Topic => vec![0x30, 0x06, 0x00, 0x02, 0xC3, 0x28, b'h', b'i'],
        M::Qos3 => vec![0x36, 0x07, 0x00, 0x01, b't', 0x00, 0x01, b'h', b'i'],
        M::CloseMidPacket => {
            let whole = publish_bytes(
                "devices/x/messages/devicebound/",
                QoS::AtMostOnce,
                0,
                &[7; 40],
            );
            whole[..whole.len() / 2].to_vec()
        }
        M::ConnackUnknownCode { .. } | M::TextFrame | M::Flood { .. } => Vec::new(),
    }
}

/// Text of the [`MalformedVariant::TextFrame`] message.
pub const TEXT_FRAME: &str = "hubwire-emulator: a text frame where MQTT needs binary";

/// Hostile behaviour waiting for a device's next CONNECTs.
#[derive(Debug, Default)]
pub(super) struct HostileState {
    /// Identity → (CONNACK return code, CONNECTs left).
    connack: HashMap<IdentityId, (u8, u32)>,
}

impl Hub {
    /// Sends (or arms) a hostile variant; `conn` is the identity's live connection,
    /// needed by every variant but [`MalformedVariant::ConnackUnknownCode`].
    pub(super) fn inject_malformed(
        &mut self,
        now: u64,
        id: &IdentityId,
        conn: Option<ConnId>,
        v: MalformedVariant,
    ) -> Result<(), ServiceError> {
        use MalformedVariant as M;
        if let M::ConnackUnknownCode { code, count } = v {
            self.hostile.connack.insert(id.clone(), (code, count));
            return Ok(());
        }
        let conn = conn.ok_or(ServiceError::DeviceNotOnline)?;
        match v {
            M::CloseMidPacket => {
                self.transmit_raw(conn, malformed_bytes(v));
                self.close(now, conn, false);
            }
            M::TextFrame => {
                if self.conns.get(&conn).is_some_and(|c| !c.closing) {
                    self.outputs.push_back(Output::TransmitText {
                        conn,
                        text: TEXT_FRAME.to_string(),
                    });
                }
            }
            M::Flood { count, size } => self.flood(conn, id, count, size),
            _ => self.transmit_raw(conn, malformed_bytes(v)),
        }
        Ok(())
    }

    fn flood(&mut self, conn: ConnId, id: &IdentityId, count: u32, size: u32) {
        let body = vec![b'f'; size as usize];
        for i in 0..count {
            let msg = C2dMessage {
                message_id: Some(format!("flood-{i}")),
                ..C2dMessage::default()
            };
            let topic = msg.topic(&id.device);
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            let pkid = c.next_pkid();
            c.inflight.insert(pkid);
            self.transmit_raw(conn, publish_bytes(&topic, QoS::AtLeastOnce, pkid, &body));
        }
    }

    /// A CONNACK return code armed by `connackUnknownCode` for this identity's next CONNECT.
    pub(super) fn hostile_connack(&mut self, id: &IdentityId) -> Option<u8> {
        let (code, left) = self.hostile.connack.get_mut(id)?;
        let code = *code;
        *left -= 1;
        if *left == 0 {
            self.hostile.connack.remove(id);
        }
        Some(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_300_mb_needs_five_bytes_succeeds() {
        let b = varint(300_000_000);
        assert_eq!(b.len(), 5);
        let mut n = 0u64;
        for (i, x) in b.iter().enumerate() {
            n |= u64::from(x & 0x7f) << (7 * i);
        }
        assert_eq!(n, 300_000_000);
        assert_eq!(
            varint(codec::MAX_REMAINING_LENGTH as u64),
            [0xFF, 0xFF, 0xFF, 0x7F]
        );
    }

    #[test]
    fn every_variant_name_parses_succeeds() {
        for name in VARIANT_NAMES {
            let v = parse_variant(&serde_json::json!({ "variant": name }));
            assert!(v.is_ok(), "{name}: {v:?}");
        }
        assert!(
            parse_variant(&serde_json::json!({"variant": "connackUnknownCode", "code": 5}))
                .is_err()
        );
        assert_eq!(
            parse_variant(
                &serde_json::json!({"variant": "flood", "count": 1_000_000_000u64, "size": 1_000_000_000u64})
            ),
            Ok(MalformedVariant::Flood {
                count: FLOOD_MAX_COUNT,
                size: FLOOD_MAX_SIZE
            })
        );
    }
}
