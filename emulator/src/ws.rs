//! The device endpoint: `/$iothub/websocket`, MQTT in binary WebSocket messages.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::shared::{ConnCmd, Shared};

/// Largest WebSocket message accepted: clients may coalesce a whole QoS 1
/// window of 256 KiB messages into one.
const MAX_WS_MESSAGE: usize = 64 << 20;

/// Largest coalesced WebSocket message the hub builds from queued packets.
const COALESCE_LIMIT: usize = 64 * 1024;

type Io = TokioIo<hyper::upgrade::Upgraded>;

/// Sends a close frame and gives the peer a moment to answer it.
async fn close_gracefully(
    sink: &mut futures_util::stream::SplitSink<WebSocketStream<Io>, Message>,
    stream: &mut futures_util::stream::SplitStream<WebSocketStream<Io>>,
) {
    let _ = sink.send(Message::Close(None)).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(m)) = stream.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
}

/// Serves one upgraded connection until either side closes it; `cert` is the
/// client certificate its TLS transport presented.
pub async fn serve(
    shared: Arc<Shared>,
    upgraded: hyper::upgrade::Upgraded,
    cert: Option<Arc<crate::core::x509::ClientCert>>,
) {
    let config = WebSocketConfig {
        max_message_size: Some(MAX_WS_MESSAGE),
        max_frame_size: Some(MAX_WS_MESSAGE),
        ..WebSocketConfig::default()
    };
    let ws =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    let (mut sink, mut stream) = ws.split();
    let (id, mut rx) = shared.open_conn();
    if let Some(c) = cert {
        shared.with(|h, _| h.set_client_cert(id, (*c).clone()));
    }
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(b))) => shared.with(|h, now| h.handle_bytes(now, id, &b)),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                    // tungstenite queues the pong; flushing sends it.
                    let _ = sink.flush().await;
                }
                // MQTT over WebSocket is binary only (MQTT 3.1.1 §6).
                Some(Ok(Message::Text(_))) => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
            cmd = rx.recv() => match cmd {
                Some(ConnCmd::Send(mut bytes)) => {
                    // Coalesce what is already queued into one WebSocket message
                    // (several MQTT packets per message is legal, MQTT 3.1.1 §6).
                    let mut then = None;
                    while bytes.len() < COALESCE_LIMIT {
                        match rx.try_recv() {
                            Ok(ConnCmd::Send(more)) => bytes.extend_from_slice(&more),
                            Ok(close) => {
                                then = Some(close);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if sink.send(Message::Binary(bytes)).await.is_err() {
                        break;
                    }
                    match then {
                        Some(ConnCmd::Close { graceful: true }) => {
                            close_gracefully(&mut sink, &mut stream).await;
                            break;
                        }
                        // A hostile-server text frame queued behind binary ones (rare: clone).
                        Some(ConnCmd::SendText(text))
                            if sink.send(Message::Text(text.clone())).await.is_ok() => {}
                        Some(_) => break,
                        None => {}
                    }
                }
                Some(ConnCmd::SendText(text)) => {
                    if sink.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                Some(ConnCmd::Close { graceful: true }) => {
                    close_gracefully(&mut sink, &mut stream).await;
                    break;
                }
                // Abrupt: drop the transport, nothing more on the wire.
                Some(ConnCmd::Close { graceful: false }) | None => break,
            },
        }
    }
    shared.close_conn(id);
}
