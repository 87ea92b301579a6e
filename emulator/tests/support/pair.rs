//! The "Pair" harness (after quinn's): hubwire's own device client core
//! (`hubwire::hub::Client`) against the emulator's hub core, in one process, on
//! simulated time, with no sockets. Bytes go straight from one core to the other.
//! Used by tests/pair.rs and tests/hostile.rs.
#![allow(dead_code)] // each test crate uses its own part

use hubwire::hub::client::{ClientConfig, HubEvent};
use hubwire::hub::Client;
use hubwire_emulator::core::registry::IdentityId;
use hubwire_emulator::core::{ConnId, Hub, HubConfig, Output};

/// The client's endpoint: never opened, bytes go from core to core.
pub const URL: &str = "ws://localhost/$iothub/websocket";
pub const HOST: &str = "pair.example";
pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const T0: u64 = 1_800_000_000_000;

pub struct Pair {
    pub hub: Hub,
    pub client: Client,
    pub conn: Option<ConnId>,
    pub now: u64,
    pub events: Vec<HubEvent>,
    pub hub_outputs: Vec<Output>,
    pub transports: u32,
}

impl Pair {
    pub fn new(device: &str) -> Pair {
        Pair::with_seed(device, 7)
    }

    /// As `new`, with the client's backoff jitter seeded with `seed`.
    pub fn with_seed(device: &str, seed: u64) -> Pair {
        let mut hub = Hub::new(HubConfig {
            host_name: HOST.into(),
            service_key: KEY.into(),
            max_telemetry: 100,
        });
        let id = IdentityId::device(device);
        hub.put_identity(
            T0,
            &id,
            None,
            Some((KEY.into(), KEY.into())),
            (KEY.into(), KEY.into()),
        )
        .unwrap();
        let cs = format!("HostName={HOST};DeviceId={device};SharedAccessKey={KEY}");
        let mut config = ClientConfig::from_connection_string(&cs).unwrap();
        config.url = Some(URL.into());
        config.random_seed = seed;
        let client = Client::new(config, T0).unwrap();
        Pair {
            hub,
            client,
            conn: None,
            now: T0,
            events: Vec::new(),
            hub_outputs: Vec::new(),
            transports: 0,
        }
    }

    /// Moves bytes and events between the two cores until both are quiet.
    pub fn pump(&mut self) {
        loop {
            let mut busy = false;
            while let Some(ev) = self.client.poll_event() {
                busy = true;
                match ev {
                    HubEvent::OpenTransport { url } => {
                        assert_eq!(url, URL);
                        self.conn = Some(self.hub.connection_opened(self.now));
                        self.transports += 1;
                        self.client.transport_opened(self.now);
                    }
                    HubEvent::CloseTransport => {
                        if let Some(c) = self.conn.take() {
                            self.hub.connection_closed(self.now, c);
                        }
                    }
                    other => self.events.push(other),
                }
            }
            while let Some(bytes) = self.client.poll_transmit() {
                busy = true;
                if let Some(c) = self.conn {
                    self.hub.handle_bytes(self.now, c, &bytes);
                }
            }
            while let Some(o) = self.hub.poll_output() {
                busy = true;
                match o {
                    Output::Transmit { conn, bytes } if Some(conn) == self.conn => {
                        self.client.handle_bytes(self.now, &bytes)
                    }
                    Output::Close { conn, .. } if Some(conn) == self.conn => {
                        self.conn = None;
                        self.client.connection_lost(self.now);
                    }
                    Output::Transmit { .. } | Output::Close { .. } => {}
                    other => self.hub_outputs.push(other),
                }
            }
            if !busy {
                return;
            }
        }
    }

    /// Advances simulated time to the earlier of both cores' timers (or `limit`).
    pub fn tick(&mut self, limit: u64) {
        let next = [self.client.poll_timeout(), self.hub.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        self.now = next.unwrap_or(limit).clamp(self.now, limit);
        self.client.handle_timeout(self.now);
        self.hub.handle_timeout(self.now);
        self.pump();
    }

    /// Runs until `pick` finds an event (removing it), at most `max_ms` of simulated time.
    pub fn wait<T>(&mut self, max_ms: u64, mut pick: impl FnMut(&HubEvent) -> Option<T>) -> T {
        let limit = self.now + max_ms;
        loop {
            self.pump();
            if let Some(i) = self.events.iter().position(|e| pick(e).is_some()) {
                let e = self.events.remove(i);
                return pick(&e).unwrap();
            }
            assert!(
                self.now < limit,
                "nothing matched within {max_ms} ms; events: {:?}",
                self.events
            );
            self.tick(limit);
        }
    }

    /// Runs simulated time until an event matches (it stays in `events`).
    pub fn until(&mut self, max_ms: u64, f: impl Fn(&HubEvent) -> bool) {
        let limit = self.now + max_ms;
        loop {
            self.pump();
            if self.events.iter().any(&f) {
                return;
            }
            assert!(
                self.now < limit,
                "nothing matched in {max_ms} ms: {:?}",
                self.events
            );
            self.tick(limit);
        }
    }
}
