//! Random and mutated input never panics.

use super::harness::*;

#[test]
fn random_and_mutated_input_never_panics_succeeds() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let valid = [
        connect_device("d1", false),
        {
            let mut p = Publish::new(
                "devices/d1/messages/events/a=b",
                QoS::AtLeastOnce,
                b"x".to_vec(),
            );
            p.pkid = 1;
            encode(Packet::Publish(p))
        },
        {
            let mut s = Subscribe::new("$iothub/twin/res/#", QoS::AtMostOnce);
            s.pkid = 2;
            encode(Packet::Subscribe(s))
        },
        encode(Packet::Publish(Publish::new(
            "$iothub/twin/GET/?$rid=1",
            QoS::AtMostOnce,
            b" ".to_vec(),
        ))),
    ];
    let mut h = hub();
    let mut closed = 0;
    for round in 0..3000u64 {
        let now = T0 + round;
        let c = h.connection_opened(now);
        if round % 2 == 0 {
            h.handle_bytes(now, c, &valid[0]);
        }
        let mut data = valid[(rnd() % valid.len() as u64) as usize].clone();
        match rnd() % 3 {
            0 => {
                let i = (rnd() as usize) % data.len();
                data[i] = rnd() as u8;
            }
            1 => data.truncate((rnd() as usize) % data.len()),
            _ => data = (0..rnd() % 64).map(|_| rnd() as u8).collect(),
        }
        h.handle_bytes(now, c, &data);
        let (pkts, close, _) = drain(&mut h, c);
        let _ = pkts; // every transmitted packet decoded in drain()
        if close.is_some() {
            closed += 1;
        } else {
            h.connection_closed(now, c);
        }
        h.handle_timeout(now);
        while h.poll_output().is_some() {}
    }
    assert!(
        closed > 1000,
        "most garbage must end the connection ({closed})"
    );
}
