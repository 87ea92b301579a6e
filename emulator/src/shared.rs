//! The thin IO side of the hub core: one lock around [`Hub`], the channels its
//! outputs are dispatched to, the timer task, and the state file (written
//! before outputs are dispatched: `crate::persist`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, mpsc, oneshot, Notify};

use crate::core::{CallId, ConnId, Hub, MethodResult, Output};
use crate::persist::Persist;

/// Milliseconds since the Unix epoch from the wall clock (the core gets it as `now`).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How long the timer task waits after a wake-up before it rescans deadlines.
const TIMER_COALESCE: Duration = Duration::from_millis(5);

/// What a connection task must do.
#[derive(Debug)]
pub enum ConnCmd {
    /// Send one binary message.
    Send(Vec<u8>),
    /// Send one text message (a hostile-server fault).
    SendText(String),
    /// Close: with a close frame, or drop the transport.
    Close {
        /// Close frame or abrupt.
        graceful: bool,
    },
}

/// The hub plus where its outputs go.
pub struct Inner {
    /// The sans-IO core.
    pub hub: Hub,
    conns: HashMap<ConnId, mpsc::UnboundedSender<ConnCmd>>,
    calls: HashMap<CallId, oneshot::Sender<MethodResult>>,
    persist: Option<Persist>,
}

/// Shared by every task of the process.
pub struct Shared {
    inner: Mutex<Inner>,
    timer: Notify,
    /// New telemetry seqs, for Server-Sent Events.
    pub telemetry: broadcast::Sender<u64>,
    /// Static facts printed at start-up (`/emulator/info`).
    pub info: Mutex<serde_json::Value>,
}

impl Shared {
    /// Wraps a hub.
    pub fn new(hub: Hub) -> Arc<Shared> {
        Arc::new(Shared {
            inner: Mutex::new(Inner {
                hub,
                conns: HashMap::new(),
                calls: HashMap::new(),
                persist: None,
            }),
            timer: Notify::new(),
            telemetry: broadcast::channel(1024).0,
            info: Mutex::new(serde_json::Value::Null),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the hub as it was between two
        // inputs; keep serving rather than poisoning every later request.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the hub with the current time, then dispatches outputs.
    pub fn with<R>(&self, f: impl FnOnce(&mut Hub, u64) -> R) -> R {
        let now = now_ms();
        let mut g = self.lock();
        let r = f(&mut g.hub, now);
        self.drain(&mut g);
        r
    }

    /// [`Shared::with`] for the timer task itself: it does not wake the timer,
    /// which would otherwise rescan every connection every few milliseconds forever.
    fn with_quiet<R>(&self, f: impl FnOnce(&mut Hub, u64) -> R) -> R {
        let now = now_ms();
        let mut g = self.lock();
        let r = f(&mut g.hub, now);
        self.dispatch(&mut g);
        r
    }

    /// Registers a new device transport.
    pub fn open_conn(&self) -> (ConnId, mpsc::UnboundedReceiver<ConnCmd>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let now = now_ms();
        let mut g = self.lock();
        let id = g.hub.connection_opened(now);
        g.conns.insert(id, tx);
        self.drain(&mut g);
        (id, rx)
    }

    /// The transport of `conn` is gone.
    pub fn close_conn(&self, conn: ConnId) {
        let now = now_ms();
        let mut g = self.lock();
        g.conns.remove(&conn);
        g.hub.connection_closed(now, conn);
        self.drain(&mut g);
    }

    /// Starts a method call and returns where its result will arrive.
    pub fn invoke_method(
        &self,
        id: &crate::core::registry::IdentityId,
        name: &str,
        payload: Vec<u8>,
        response_timeout_ms: u64,
        connect_timeout_ms: u64,
    ) -> Result<oneshot::Receiver<MethodResult>, crate::core::ServiceError> {
        let now = now_ms();
        let mut g = self.lock();
        let r = g.hub.invoke_method(
            now,
            id,
            name,
            payload,
            response_timeout_ms,
            connect_timeout_ms,
        );
        let rx = r.map(|call| {
            let (tx, rx) = oneshot::channel();
            g.calls.insert(call, tx);
            rx
        });
        self.drain(&mut g);
        rx
    }

    /// From now on, state changes and telemetry are written to `p` before the
    /// outputs that acknowledge them are dispatched.
    pub fn enable_persistence(&self, p: Persist) {
        self.lock().persist = Some(p);
    }

    fn drain(&self, g: &mut Inner) {
        self.dispatch(g);
        self.timer.notify_one();
    }

    /// Makes the outputs durable (state file), then hands them to the connections.
    fn dispatch(&self, g: &mut Inner) {
        let outputs: Vec<Output> = std::iter::from_fn(|| g.hub.poll_output()).collect();
        let dirty = g.hub.take_dirty();
        if let Some(p) = g.persist.as_mut() {
            p.commit(&g.hub, &outputs, dirty);
        }
        for o in outputs {
            match o {
                Output::Transmit { conn, bytes } => {
                    if let Some(tx) = g.conns.get(&conn) {
                        let _ = tx.send(ConnCmd::Send(bytes));
                    }
                }
                Output::TransmitText { conn, text } => {
                    if let Some(tx) = g.conns.get(&conn) {
                        let _ = tx.send(ConnCmd::SendText(text));
                    }
                }
                Output::Close { conn, graceful } => {
                    if let Some(tx) = g.conns.remove(&conn) {
                        let _ = tx.send(ConnCmd::Close { graceful });
                    }
                }
                Output::MethodDone { call, result } => {
                    if let Some(tx) = g.calls.remove(&call) {
                        let _ = tx.send(result);
                    }
                }
                Output::Telemetry { seq } => {
                    let _ = self.telemetry.send(seq);
                }
            }
        }
    }

    /// Drives [`Hub::handle_timeout`] forever.
    pub async fn run_timer(self: Arc<Self>) {
        loop {
            let next = self.lock().hub.poll_timeout();
            let sleep = match next {
                Some(t) => Duration::from_millis(t.saturating_sub(now_ms())),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => self.with_quiet(|h, now| h.handle_timeout(now)),
                _ = self.timer.notified() => {
                    // Every input notifies (it may have set an earlier deadline);
                    // recomputing the next deadline scans all connections, so coalesce
                    // bursts (a deadline is at most this late), then look again: the
                    // scan runs `handle_timeout` only when something is due.
                    tokio::time::sleep(TIMER_COALESCE).await;
                }
            }
        }
    }

    /// Writes the snapshot now (at shutdown), if a state file is in use.
    pub fn persist_now(&self) -> std::io::Result<()> {
        let g = self.lock();
        match &g.persist {
            Some(p) => p.snapshot(&g.hub),
            None => Ok(()),
        }
    }
}

pub use crate::persist::state_json;

/// Writes `data` to a temp file beside `path`, then renames it over `path`.
pub fn write_atomic(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
