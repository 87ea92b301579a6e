//! Load generator: the demo device publishes QoS 1 telemetry as fast as a
//! window of unacknowledged messages allows, over one WebSocket.
//!
//! ```sh
//! hubwire-emulator --port 0 --ready-file /tmp/ready.json &
//! cargo run --release -p hubwire-emulator --example load -- /tmp/ready.json 20000 100 256
//! #                                                    ready file  messages window bytes
//! ```

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use mqttbytes::v4::{self, Connect, Packet, Publish};
use mqttbytes::QoS;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn encode(p: Packet) -> Vec<u8> {
    let mut b = BytesMut::new();
    let _ = match p {
        Packet::Connect(c) => c.write(&mut b),
        Packet::Publish(c) => c.write(&mut b),
        _ => Ok(0),
    };
    b.to_vec()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ready_path = args.first().map(String::as_str).unwrap_or("ready.json");
    let total: u32 = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let window: u32 = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(100);
    let size: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(256);
    let ready: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ready_path).expect("ready file"))
            .expect("ready JSON");
    let cs = ready["demoDevice"]["connectionString"]
        .as_str()
        .expect("a demo device");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let password =
        hubwire_emulator::sas_cli::token_from_connection_string(cs, now, 3600).expect("token");
    let host = ready["hostName"].as_str().unwrap_or("localhost");
    let device = ready["demoDevice"]["deviceId"].as_str().unwrap_or("demo");

    let mut req = ready["wsUrl"]
        .as_str()
        .expect("wsUrl")
        .into_client_request()
        .expect("url");
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    let mut c = Connect::new(device);
    c.keep_alive = 60;
    c.set_login(format!("{host}/{device}/?api-version=2021-04-12"), password);
    ws.send(Message::Binary(encode(Packet::Connect(c))))
        .await
        .expect("send");

    let topic = format!("devices/{device}/messages/events/k=v");
    let body = vec![b'x'; size];
    let (mut sent, mut acked, mut pkid) = (0u32, 0u32, 0u16);
    let mut buf = BytesMut::new();
    let mut connected = false;
    let start = Instant::now();
    while acked < total {
        if connected {
            let mut batch = Vec::new();
            while sent < total && sent - acked < window && batch.len() < 1 << 20 {
                pkid = pkid.wrapping_add(1).max(1);
                let mut p = Publish::new(topic.as_str(), QoS::AtLeastOnce, body.clone());
                p.pkid = pkid;
                batch.extend(encode(Packet::Publish(p)));
                sent += 1;
            }
            if !batch.is_empty() {
                ws.send(Message::Binary(batch)).await.expect("send");
            }
        }
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => buf.extend_from_slice(&b),
            Some(Ok(_)) => continue,
            other => panic!("connection ended: {other:?}"),
        }
        while let Ok(p) = v4::read(&mut buf, 1 << 20) {
            match p {
                Packet::ConnAck(a) => {
                    assert_eq!(a.code, v4::ConnectReturnCode::Success, "CONNACK");
                    connected = true;
                }
                Packet::PubAck(_) => acked += 1,
                _ => {}
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{total} QoS 1 messages of {size} B, window {window}: {secs:.2} s, {:.0} msg/s, {:.2} MB/s",
        f64::from(total) / secs,
        f64::from(total) * size as f64 / secs / 1e6
    );
}
