//! The emulator's MQTT 3.1.1 codec: every packet kind both ways, with `mqttbytes`
//! (v4) behind guards. (The client, `hubwire::mqtt::codec`, has its own small
//! codec for the packets a client sends and receives; docs/codec.md.)
//!
//! `mqttbytes` 0.6 is used for the packet layouts, but (see docs/codec.md)
//! it silently truncates strings longer than 65,535 bytes, ignores reserved
//! flag bits and accepts wrong lengths for fixed-size packets. `decode`
//! therefore validates the fixed header first and `encode` validates field
//! lengths first; both return typed errors, neither panics.

use bytes::{Bytes, BytesMut};
use mqttbytes::v4::{
    ConnAck, Connect, Disconnect, PingReq, PingResp, PubAck, PubComp, PubRec, PubRel, Publish,
    SubAck, Subscribe, UnsubAck, Unsubscribe,
};
use mqttbytes::FixedHeader;

use hubwire::mqtt::{Error, Malformed};

pub use mqttbytes::v4::Packet;

/// The wire constants are the client's (`hubwire::mqtt::codec`): one table for both sides.
pub use hubwire::mqtt::codec::{packet_type, MAX_REMAINING_LENGTH, MAX_STRING};

/// The packet type nibble of a decoded packet.
pub fn type_of(packet: &Packet) -> u8 {
    use packet_type::*;
    match packet {
        Packet::Connect(_) => CONNECT,
        Packet::ConnAck(_) => CONNACK,
        Packet::Publish(_) => PUBLISH,
        Packet::PubAck(_) => PUBACK,
        Packet::PubRec(_) => PUBREC,
        Packet::PubRel(_) => PUBREL,
        Packet::PubComp(_) => PUBCOMP,
        Packet::Subscribe(_) => SUBSCRIBE,
        Packet::SubAck(_) => SUBACK,
        Packet::Unsubscribe(_) => UNSUBSCRIBE,
        Packet::UnsubAck(_) => UNSUBACK,
        Packet::PingReq => PINGREQ,
        Packet::PingResp => PINGRESP,
        Packet::Disconnect => DISCONNECT,
    }
}

fn map_err(e: mqttbytes::Error) -> Error {
    use mqttbytes::Error as E;
    Error::Malformed(match e {
        E::InvalidQoS(q) => Malformed::QoS(q),
        E::PacketIdZero => Malformed::PacketIdZero,
        E::TopicNotUtf8 => Malformed::NotUtf8,
        E::InvalidConnectReturnCode(c) => Malformed::ConnectReturn(c),
        E::InvalidSubscribeReasonCode(c) => Malformed::SubackReturn(c),
        E::InvalidPacketType(t) => Malformed::PacketType(t),
        E::BoundaryCrossed(_) | E::MalformedPacket | E::InsufficientBytes(_) => {
            Malformed::Truncated
        }
        E::MalformedRemainingLength => return Error::MalformedRemainingLength,
        E::PayloadTooLong => return Error::PayloadTooLong,
        _ => Malformed::Other,
    })
}

/// Decode one whole packet as returned by [`Framer`](super::Framer).
///
/// Checks what `mqttbytes` does not: reserved flag bits of the fixed
/// header, exact lengths of fixed-size packets, the CONNACK flags and the
/// CONNECT reserved flag; the packet must span the whole frame.
pub fn decode(frame: Vec<u8>) -> Result<Packet, Error> {
    use packet_type::*;
    if frame.len() < 2 {
        return Err(Error::Malformed(Malformed::Truncated));
    }
    let byte1 = frame[0];
    let mut header_len = 1;
    let mut remaining = 0usize;
    loop {
        let Some(&b) = frame.get(header_len) else {
            return Err(Error::Malformed(Malformed::Truncated));
        };
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
        return Err(Error::Malformed(Malformed::Truncated));
    }
    let ptype = byte1 >> 4;
    let flags = byte1 & 0x0f;
    let bad_len = Error::Malformed(Malformed::Length {
        packet_type: ptype,
        remaining,
    });
    let required_flags = match ptype {
        PUBLISH => None,
        PUBREL | SUBSCRIBE | UNSUBSCRIBE => Some(0b0010),
        CONNECT..=DISCONNECT => Some(0),
        _ => return Err(Error::Malformed(Malformed::PacketType(ptype))),
    };
    if required_flags.is_some_and(|f| f != flags) {
        return Err(Error::Malformed(Malformed::Flags(byte1)));
    }
    let len_ok = match ptype {
        CONNACK | PUBACK | PUBREC | PUBREL | PUBCOMP | UNSUBACK => remaining == 2,
        PINGREQ | PINGRESP | DISCONNECT => remaining == 0,
        SUBACK => remaining >= 3,
        SUBSCRIBE | UNSUBSCRIBE => remaining >= 2,
        // CONNECT: protocol name, level, flags, keep-alive, client id length.
        CONNECT => remaining >= 12,
        // PUBLISH: at least the topic length.
        _ => remaining >= 2,
    };
    if !len_ok {
        return Err(bad_len);
    }
    if ptype == CONNACK && frame[header_len] & 0xfe != 0 {
        return Err(Error::Malformed(Malformed::Flags(frame[header_len])));
    }
    if ptype == CONNECT && frame[header_len + 7] & 0x01 != 0 {
        return Err(Error::Malformed(Malformed::Flags(frame[header_len + 7])));
    }
    if ptype == PUBLISH && flags & 0b0110 == 0b0110 {
        return Err(Error::Malformed(Malformed::QoS(3)));
    }
    let fh = FixedHeader::new(byte1, header_len - 1, remaining);
    let bytes = Bytes::from(frame);
    Ok(match ptype {
        CONNECT => Packet::Connect(Connect::read(fh, bytes).map_err(map_err)?),
        CONNACK => Packet::ConnAck(ConnAck::read(fh, bytes).map_err(map_err)?),
        PUBLISH => Packet::Publish(Publish::read(fh, bytes).map_err(map_err)?),
        PUBACK => Packet::PubAck(PubAck::read(fh, bytes).map_err(map_err)?),
        PUBREC => Packet::PubRec(PubRec::read(fh, bytes).map_err(map_err)?),
        PUBREL => Packet::PubRel(PubRel::read(fh, bytes).map_err(map_err)?),
        PUBCOMP => Packet::PubComp(PubComp::read(fh, bytes).map_err(map_err)?),
        SUBSCRIBE => Packet::Subscribe(Subscribe::read(fh, bytes).map_err(map_err)?),
        SUBACK => Packet::SubAck(SubAck::read(fh, bytes).map_err(map_err)?),
        UNSUBSCRIBE => Packet::Unsubscribe(Unsubscribe::read(fh, bytes).map_err(map_err)?),
        UNSUBACK => Packet::UnsubAck(UnsubAck::read(fh, bytes).map_err(map_err)?),
        PINGREQ => Packet::PingReq,
        PINGRESP => Packet::PingResp,
        _ => Packet::Disconnect,
    })
}

fn check_str(field: &'static str, len: usize) -> Result<(), Error> {
    if len > MAX_STRING {
        return Err(Error::StringTooLong { field, len });
    }
    Ok(())
}

fn check_packet(packet: &Packet) -> Result<(), Error> {
    match packet {
        Packet::Connect(c) => {
            check_str("client id", c.client_id.len())?;
            if let Some(w) = &c.last_will {
                check_str("will topic", w.topic.len())?;
                check_str("will payload", w.message.len())?;
            }
            if let Some(l) = &c.login {
                check_str("username", l.username.len())?;
                check_str("password", l.password.len())?;
                if l.username.is_empty() && !l.password.is_empty() {
                    return Err(Error::PasswordWithoutUsername);
                }
            }
        }
        Packet::Publish(p) => {
            check_str("topic", p.topic.len())?;
            if p.qos != mqttbytes::QoS::AtMostOnce && p.pkid == 0 {
                return Err(Error::Malformed(Malformed::PacketIdZero));
            }
            if p.len() > MAX_REMAINING_LENGTH {
                return Err(Error::PayloadTooLong);
            }
        }
        Packet::Subscribe(s) => {
            if s.filters.is_empty() {
                return Err(Error::NoFilters);
            }
            for f in &s.filters {
                check_str("topic filter", f.path.len())?;
            }
            if s.len() > MAX_REMAINING_LENGTH {
                return Err(Error::PayloadTooLong);
            }
        }
        Packet::Unsubscribe(u) => {
            if u.topics.is_empty() {
                return Err(Error::NoFilters);
            }
            let mut len = 2usize;
            for t in &u.topics {
                check_str("topic filter", t.len())?;
                len += 2 + t.len();
            }
            if len > MAX_REMAINING_LENGTH {
                return Err(Error::PayloadTooLong);
            }
        }
        Packet::SubAck(s) if 2 + s.return_codes.len() > MAX_REMAINING_LENGTH => {
            return Err(Error::PayloadTooLong);
        }
        _ => {}
    }
    Ok(())
}

/// Append the encoding of `packet` to `out`.
///
/// Field lengths are checked first, so on error nothing was appended.
pub fn encode(packet: &Packet, out: &mut BytesMut) -> Result<(), Error> {
    check_packet(packet)?;
    let r = match packet {
        Packet::Connect(p) => p.write(out),
        Packet::ConnAck(p) => p.write(out),
        Packet::Publish(p) => p.write(out),
        Packet::PubAck(p) => p.write(out),
        Packet::PubRec(p) => p.write(out),
        Packet::PubRel(p) => p.write(out),
        Packet::PubComp(p) => p.write(out),
        Packet::Subscribe(p) => p.write(out),
        Packet::SubAck(p) => p.write(out),
        Packet::Unsubscribe(p) => p.write(out),
        Packet::UnsubAck(p) => p.write(out),
        Packet::PingReq => PingReq.write(out),
        Packet::PingResp => PingResp.write(out),
        Packet::Disconnect => Disconnect.write(out),
    };
    r.map(|_| ()).map_err(map_err)
}

/// Encode a PUBLISH into a fresh buffer (no clone of topic or payload).
pub fn encode_publish(publish: &Publish) -> Result<Vec<u8>, Error> {
    check_str("topic", publish.topic.len())?;
    if publish.qos != mqttbytes::QoS::AtMostOnce && publish.pkid == 0 {
        return Err(Error::Malformed(Malformed::PacketIdZero));
    }
    if publish.len() > MAX_REMAINING_LENGTH {
        return Err(Error::PayloadTooLong);
    }
    let mut out = BytesMut::with_capacity(publish.len() + 5);
    publish.write(&mut out).map_err(map_err)?;
    Ok(Vec::from(out))
}

/// Encode `packet` into a fresh buffer.
pub fn encode_to_vec(packet: &Packet) -> Result<Vec<u8>, Error> {
    let mut out = BytesMut::new();
    encode(packet, &mut out)?;
    Ok(Vec::from(out))
}
