//! MQTT 3.1.1 as a client sees it: encode the packets a client sends (CONNECT,
//! PUBLISH, PUBACK, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT), decode the
//! ones a server sends (CONNACK, PUBLISH, PUBACK, SUBACK, UNSUBACK, PINGRESP).
//!
//! Hand-written, about 300 lines, because a general packet library carried
//! every packet kind both ways and a `Bytes` type into the wasm (docs/codec.md,
//! docs/size.md). Every check the old guards made is here: reserved flag bits,
//! exact lengths of fixed-size packets, string lengths before anything is
//! written, UTF-8 topics, packet id 0. The server side (the emulator) has its
//! own codec.

use crate::prelude::*;

use super::config::QoS;
use super::error::{Error, Malformed};

/// Largest remaining length MQTT can express (§2.2.3).
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;
/// Largest MQTT string or binary field (§1.5.3).
pub const MAX_STRING: usize = 65_535;

/// Packet type nibbles (MQTT 3.1.1 §2.2.1).
pub mod packet_type {
    /// CONNECT
    pub const CONNECT: u8 = 1;
    /// CONNACK
    pub const CONNACK: u8 = 2;
    /// PUBLISH
    pub const PUBLISH: u8 = 3;
    /// PUBACK
    pub const PUBACK: u8 = 4;
    /// PUBREC
    pub const PUBREC: u8 = 5;
    /// PUBREL
    pub const PUBREL: u8 = 6;
    /// PUBCOMP
    pub const PUBCOMP: u8 = 7;
    /// SUBSCRIBE
    pub const SUBSCRIBE: u8 = 8;
    /// SUBACK
    pub const SUBACK: u8 = 9;
    /// UNSUBSCRIBE
    pub const UNSUBSCRIBE: u8 = 10;
    /// UNSUBACK
    pub const UNSUBACK: u8 = 11;
    /// PINGREQ
    pub const PINGREQ: u8 = 12;
    /// PINGRESP
    pub const PINGRESP: u8 = 13;
    /// DISCONNECT
    pub const DISCONNECT: u8 = 14;
}

/// PINGREQ on the wire.
pub const PINGREQ: [u8; 2] = [0xc0, 0x00];
/// DISCONNECT on the wire.
pub const DISCONNECT: [u8; 2] = [0xe0, 0x00];

/// A packet a server sends to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerPacket {
    /// CONNACK: session-present flag and return code (0 accepted, 1..=5 refused).
    ConnAck {
        /// The server kept state of an earlier session.
        session_present: bool,
        /// Return code 0..=5.
        code: u8,
    },
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK for a QoS 1 PUBLISH of ours.
    PubAck(u16),
    /// SUBACK: one return code per filter (0..=2 granted QoS, 0x80 failure).
    SubAck {
        /// Packet identifier of the SUBSCRIBE.
        pkid: u16,
        /// Return codes in filter order.
        codes: Vec<u8>,
    },
    /// UNSUBACK.
    UnsubAck(u16),
    /// PINGRESP.
    PingResp,
}

impl ServerPacket {
    /// The packet type nibble.
    pub fn packet_type(&self) -> u8 {
        use packet_type::*;
        match self {
            ServerPacket::ConnAck { .. } => CONNACK,
            ServerPacket::Publish(_) => PUBLISH,
            ServerPacket::PubAck(_) => PUBACK,
            ServerPacket::SubAck { .. } => SUBACK,
            ServerPacket::UnsubAck(_) => UNSUBACK,
            ServerPacket::PingResp => PINGRESP,
        }
    }
}

/// A PUBLISH, either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// Topic name.
    pub topic: String,
    /// Body.
    pub payload: Vec<u8>,
    /// QoS (2 is decoded; the session refuses it).
    pub qos: QoS,
    /// DUP flag.
    pub dup: bool,
    /// RETAIN flag.
    pub retain: bool,
    /// Packet identifier (0 for QoS 0).
    pub pkid: u16,
}

// ----- decode -----

fn malformed(m: Malformed) -> Error {
    Error::Malformed(m)
}

fn u16_at(b: &[u8], i: usize) -> Result<u16, Error> {
    match b.get(i..i + 2) {
        Some(&[hi, lo]) => Ok(u16::from(hi) << 8 | u16::from(lo)),
        _ => Err(malformed(Malformed::Truncated)),
    }
}

/// Decodes one whole packet as returned by [`Framer`](super::Framer).
///
/// Checks the reserved flag bits of the fixed header, exact lengths of
/// fixed-size packets, the CONNACK flags and codes, SUBACK codes, PUBLISH QoS 3
/// and UTF-8 topics; the packet must span the whole frame. Packet kinds a server
/// never sends are [`Error::UnexpectedPacket`]; reserved kinds 0 and 15 are
/// [`Malformed::PacketType`].
pub fn decode(mut frame: Vec<u8>) -> Result<ServerPacket, Error> {
    use packet_type::*;
    let byte1 = *frame.first().ok_or(malformed(Malformed::Truncated))?;
    let mut header_len = 1;
    let mut remaining = 0usize;
    loop {
        let b = *frame
            .get(header_len)
            .ok_or(malformed(Malformed::Truncated))?;
        remaining |= usize::from(b & 0x7f) << (7 * (header_len - 1));
        header_len += 1;
        if b & 0x80 == 0 {
            break;
        }
        if header_len == 5 {
            return Err(Error::MalformedRemainingLength);
        }
    }
    if header_len + remaining != frame.len() {
        return Err(malformed(Malformed::Truncated));
    }
    let ptype = byte1 >> 4;
    let flags = byte1 & 0x0f;
    if ptype == 0 || ptype == 15 {
        return Err(malformed(Malformed::PacketType(ptype)));
    }
    let flags_ok = match ptype {
        PUBLISH => flags & 0b0110 != 0b0110,
        PUBREL | SUBSCRIBE | UNSUBSCRIBE => flags == 0b0010,
        _ => flags == 0,
    };
    if !flags_ok {
        return Err(malformed(if ptype == PUBLISH {
            Malformed::QoS(3)
        } else {
            Malformed::Flags(byte1)
        }));
    }
    let body = &frame[header_len..];
    let len_ok = match ptype {
        CONNACK | PUBACK | UNSUBACK => remaining == 2,
        PINGRESP => remaining == 0,
        SUBACK => remaining >= 3,
        PUBLISH => remaining >= 2,
        other => return Err(Error::UnexpectedPacket(other)),
    };
    if !len_ok {
        return Err(malformed(Malformed::Length {
            packet_type: ptype,
            remaining,
        }));
    }
    Ok(match ptype {
        CONNACK => {
            if body[0] & 0xfe != 0 {
                return Err(malformed(Malformed::Flags(body[0])));
            }
            if body[1] > 5 {
                return Err(malformed(Malformed::ConnectReturn(body[1])));
            }
            ServerPacket::ConnAck {
                session_present: body[0] == 1,
                code: body[1],
            }
        }
        PUBACK => ServerPacket::PubAck(u16_at(body, 0)?),
        UNSUBACK => ServerPacket::UnsubAck(u16_at(body, 0)?),
        PINGRESP => ServerPacket::PingResp,
        SUBACK => {
            let codes = body[2..].to_vec();
            if let Some(&c) = codes.iter().find(|&&c| c > 2 && c != 0x80) {
                return Err(malformed(Malformed::SubackReturn(c)));
            }
            ServerPacket::SubAck {
                pkid: u16_at(body, 0)?,
                codes,
            }
        }
        _ => {
            let qos = match (flags >> 1) & 3 {
                0 => QoS::AtMostOnce,
                1 => QoS::AtLeastOnce,
                _ => QoS::ExactlyOnce,
            };
            let topic_len = usize::from(u16_at(body, 0)?);
            let mut at = 2 + topic_len;
            let topic = body
                .get(2..at)
                .ok_or(malformed(Malformed::Truncated))?
                .to_vec();
            let topic = String::from_utf8(topic).map_err(|_| malformed(Malformed::NotUtf8))?;
            let mut pkid = 0;
            if qos != QoS::AtMostOnce {
                pkid = u16_at(body, at)?;
                if pkid == 0 {
                    return Err(malformed(Malformed::PacketIdZero));
                }
                at += 2;
            }
            // The payload is the tail of the frame: move it down instead of copying.
            frame.drain(..header_len + at);
            ServerPacket::Publish(Publish {
                topic,
                payload: frame,
                qos,
                dup: flags & 0b1000 != 0,
                retain: flags & 1 != 0,
                pkid,
            })
        }
    })
}

// ----- encode -----

fn check_str(field: &'static str, len: usize) -> Result<(), Error> {
    if len > MAX_STRING {
        return Err(Error::StringTooLong { field, len });
    }
    Ok(())
}

/// A packet being built: the fixed header is written once the body is complete.
struct Writer(Vec<u8>);

impl Writer {
    fn new(capacity: usize) -> Writer {
        Writer(Vec::with_capacity(capacity + 5))
    }

    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    /// A length-prefixed string or binary field (length already checked).
    fn field(&mut self, b: &[u8]) {
        self.u16(b.len() as u16);
        self.0.extend_from_slice(b);
    }

    /// Prepends the fixed header.
    fn finish(self, byte1: u8) -> Result<Vec<u8>, Error> {
        let body = self.0;
        let mut n = body.len();
        if n > MAX_REMAINING_LENGTH {
            return Err(Error::PayloadTooLong);
        }
        let mut out = Vec::with_capacity(body.len() + 5);
        out.push(byte1);
        loop {
            let mut b = (n % 128) as u8;
            n /= 128;
            if n > 0 {
                b |= 0x80;
            }
            out.push(b);
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(&body);
        Ok(out)
    }
}

/// What a CONNECT carries.
#[derive(Debug, Clone, Copy)]
pub struct ConnectFields<'a> {
    /// Client identifier.
    pub client_id: &'a str,
    /// Keep-alive in seconds.
    pub keep_alive_secs: u16,
    /// Clean session flag.
    pub clean_session: bool,
    /// Will topic, payload, QoS and retain flag.
    pub will: Option<(&'a str, &'a [u8], QoS, bool)>,
    /// User name.
    pub username: Option<&'a str>,
    /// Password (an empty one is sent as none).
    pub password: Option<&'a str>,
}

/// Encodes a CONNECT (protocol level 4).
pub fn connect(c: &ConnectFields) -> Result<Vec<u8>, Error> {
    let password = c.password.filter(|p| !p.is_empty());
    if password.is_some() && c.username.is_none_or(str::is_empty) {
        return Err(Error::PasswordWithoutUsername);
    }
    check_str("client id", c.client_id.len())?;
    let mut flags = if c.clean_session { 0x02 } else { 0 };
    if let Some((topic, payload, qos, retain)) = c.will {
        check_str("will topic", topic.len())?;
        check_str("will payload", payload.len())?;
        flags |= 0x04 | (qos as u8) << 3 | if retain { 0x20 } else { 0 };
    }
    if let Some(u) = c.username {
        check_str("username", u.len())?;
        flags |= 0x80;
    }
    if let Some(p) = password {
        check_str("password", p.len())?;
        flags |= 0x40;
    }
    let mut w = Writer::new(64 + c.client_id.len());
    w.field(b"MQTT");
    w.0.push(4);
    w.0.push(flags);
    w.u16(c.keep_alive_secs);
    w.field(c.client_id.as_bytes());
    if let Some((topic, payload, _, _)) = c.will {
        w.field(topic.as_bytes());
        w.field(payload);
    }
    for s in [c.username, password].into_iter().flatten() {
        w.field(s.as_bytes());
    }
    w.finish(packet_type::CONNECT << 4)
}

/// Encodes a PUBLISH (`pkid` must be non-zero for QoS 1 and 2).
pub fn publish(p: &Publish) -> Result<Vec<u8>, Error> {
    publish_parts(&p.topic, &p.payload, p.qos, p.retain, p.pkid).map(|mut b| {
        if p.dup {
            b[0] |= PUBLISH_DUP;
        }
        b
    })
}

/// Encodes a PUBLISH from its parts (DUP clear).
pub fn publish_parts(
    topic: &str,
    payload: &[u8],
    qos: QoS,
    retain: bool,
    pkid: u16,
) -> Result<Vec<u8>, Error> {
    check_str("topic", topic.len())?;
    if qos != QoS::AtMostOnce && pkid == 0 {
        return Err(malformed(Malformed::PacketIdZero));
    }
    let mut w = Writer::new(topic.len() + payload.len() + 4);
    w.field(topic.as_bytes());
    if qos != QoS::AtMostOnce {
        w.u16(pkid);
    }
    w.0.extend_from_slice(payload);
    w.finish(packet_type::PUBLISH << 4 | (qos as u8) << 1 | u8::from(retain))
}

/// The DUP flag of an encoded PUBLISH (for a resend).
pub const PUBLISH_DUP: u8 = 0b1000;

/// Encodes a PUBACK.
pub fn puback(pkid: u16) -> Vec<u8> {
    let [hi, lo] = pkid.to_be_bytes();
    vec![packet_type::PUBACK << 4, 2, hi, lo]
}

/// Encodes a SUBSCRIBE.
pub fn subscribe(pkid: u16, filters: &[(String, QoS)]) -> Result<Vec<u8>, Error> {
    if filters.is_empty() {
        return Err(Error::NoFilters);
    }
    let mut w = Writer::new(32 * filters.len());
    w.u16(pkid);
    for (f, q) in filters {
        check_str("topic filter", f.len())?;
        w.field(f.as_bytes());
        w.0.push(*q as u8);
    }
    w.finish(packet_type::SUBSCRIBE << 4 | 0b0010)
}

/// Encodes an UNSUBSCRIBE.
pub fn unsubscribe(pkid: u16, filters: &[String]) -> Result<Vec<u8>, Error> {
    if filters.is_empty() {
        return Err(Error::NoFilters);
    }
    let mut w = Writer::new(32 * filters.len());
    w.u16(pkid);
    for f in filters {
        check_str("topic filter", f.len())?;
        w.field(f.as_bytes());
    }
    w.finish(packet_type::UNSUBSCRIBE << 4 | 0b0010)
}
