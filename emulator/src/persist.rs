//! `--state-file`: the hub survives its own restart, even `kill -9`.
//!
//! Two files. `PATH` holds a JSON snapshot (service key, registry and twins,
//! queued cloud-to-device messages, clean-session-0 sessions); `PATH.telemetry`
//! is a journal of telemetry records, one JSON line each. Both are written
//! **before** anything that depends on them is acknowledged: the driver calls
//! [`Persist::commit`] with a batch of the core's outputs before it sends any of
//! them, so a PUBACK never leaves before its message is in the journal and an
//! HTTP answer never before its change is in the snapshot (like IoT Hub, which
//! acknowledges after a durable enqueue). Writes are not `fsync`ed: the state
//! survives the process being killed, not the machine losing power.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::core::persist::{telemetry_from_json, telemetry_to_json};
use crate::core::policies::Policies;
use crate::core::registry::Registry;
use crate::core::telemetry::TelemetryRecord;
use crate::core::{Hub, Output};

/// What a state file and its journal hold at start-up.
#[derive(Debug)]
pub struct Loaded {
    /// The `iothubowner` key.
    pub service_key: String,
    /// Identities and twins.
    pub registry: Registry,
    /// Shared access policies (absent in older files).
    pub policies: Option<Policies>,
    /// DPS state (enrollments, registrations; absent in older files).
    pub dps: Option<Value>,
    /// [`Hub::export_runtime`] output (`Null` in a version 1 file).
    pub runtime: Value,
    /// Telemetry records, oldest first.
    pub telemetry: Vec<TelemetryRecord>,
}

/// The journal beside a state file.
pub fn journal_path(state: &Path) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".telemetry");
    PathBuf::from(p)
}

/// Reads a state file and its journal; `Ok(None)` when the state file does not exist.
/// A journal line that does not parse (the last one, cut by a kill) is skipped.
pub fn load(path: &Path) -> Result<Option<Loaded>, String> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let v: Value =
        serde_json::from_slice(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let service_key = v["serviceKey"]
        .as_str()
        .ok_or("state file lacks serviceKey")?
        .to_string();
    let registry = Registry::import(&v["registry"]).ok_or("state file registry is malformed")?;
    let policies = match &v["policies"] {
        Value::Null => None,
        p => Some(Policies::import(p, &service_key).ok_or("state file policies are malformed")?),
    };
    let mut telemetry = Vec::new();
    match File::open(journal_path(path)) {
        Ok(f) => {
            for line in BufReader::new(f).lines() {
                let line = line.map_err(|e| format!("telemetry journal: {e}"))?;
                if let Some(r) = serde_json::from_str(&line)
                    .ok()
                    .and_then(|v| telemetry_from_json(&v))
                {
                    telemetry.push(r);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("telemetry journal: {e}")),
    }
    Ok(Some(Loaded {
        service_key,
        registry,
        policies,
        dps: v.get("dps").cloned(),
        runtime: v["runtime"].clone(),
        telemetry,
    }))
}

/// The state file's JSON: service key, registry with twins, policies, runtime state.
pub fn state_json(hub: &Hub, service_key: &str) -> Value {
    serde_json::json!({
        "version": 2,
        "serviceKey": service_key,
        "registry": hub.registry().export(),
        "policies": hub.policies().export(),
        "dps": hub.dps_export(),
        "runtime": hub.export_runtime(),
    })
}

/// The open state file and journal of a running hub.
pub struct Persist {
    path: PathBuf,
    journal: File,
    service_key: String,
    /// Journal lines since it was last rewritten.
    appended: usize,
    /// Rewrite the journal (keeping what the hub retains) after this many lines.
    compact_after: usize,
    failing: bool,
}

impl Persist {
    /// Opens for a hub retaining `max_telemetry` records and rewrites the journal with
    /// what the hub holds now (so it never exceeds about twice the retention).
    pub fn open(
        path: &Path,
        service_key: &str,
        max_telemetry: usize,
        hub: &Hub,
    ) -> std::io::Result<Persist> {
        let p = Persist {
            path: path.to_path_buf(),
            journal: write_journal(path, hub)?,
            service_key: service_key.to_string(),
            appended: 0,
            compact_after: max_telemetry.max(1000),
            failing: false,
        };
        p.snapshot(hub)?;
        Ok(p)
    }

    /// Writes the snapshot now.
    pub fn snapshot(&self, hub: &Hub) -> std::io::Result<()> {
        let state = state_json(hub, &self.service_key);
        write_atomic(&self.path, state.to_string().as_bytes(), false)
    }

    /// Makes a batch of outputs durable before the driver acts on any of them: appends
    /// their telemetry to the journal and, if `dirty`, writes the snapshot.
    pub fn commit(&mut self, hub: &Hub, outputs: &[Output], dirty: bool) {
        let r = self.try_commit(hub, outputs, dirty);
        match (&r, self.failing) {
            (Err(e), false) => eprintln!(
                "hubwire-emulator: cannot write state file {}: {e}",
                self.path.display()
            ),
            (Ok(()), true) => eprintln!(
                "hubwire-emulator: state file {} written again",
                self.path.display()
            ),
            _ => {}
        }
        self.failing = r.is_err();
    }

    fn try_commit(&mut self, hub: &Hub, outputs: &[Output], dirty: bool) -> std::io::Result<()> {
        let mut lines = Vec::new();
        for o in outputs {
            if let Output::Telemetry { seq } = o {
                if let Some(r) = hub.telemetry_record(*seq) {
                    lines.extend_from_slice(telemetry_to_json(r).to_string().as_bytes());
                    lines.push(b'\n');
                    self.appended += 1;
                }
            }
        }
        if self.appended > self.compact_after {
            self.journal = write_journal(&self.path, hub)?;
            self.appended = 0;
        } else if !lines.is_empty() {
            self.journal.write_all(&lines)?;
        }
        if dirty {
            self.snapshot(hub)?;
        }
        Ok(())
    }
}

/// Rewrites the journal of `state` with the records `hub` retains; returns it open for appending.
fn write_journal(state: &Path, hub: &Hub) -> std::io::Result<File> {
    let mut text = Vec::new();
    for r in hub.telemetry_records() {
        text.extend_from_slice(telemetry_to_json(r).to_string().as_bytes());
        text.push(b'\n');
    }
    let jp = journal_path(state);
    write_atomic(&jp, &text, false)?;
    OpenOptions::new().append(true).open(&jp)
}

/// Writes `data` to a temp file beside `path`, then renames it over `path`;
/// `sync` also flushes it to the disk first.
pub fn write_atomic(path: &Path, data: &[u8], sync: bool) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        if sync {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::registry::IdentityId;
    use crate::core::{C2dMessage, HubConfig};

    fn hub(max: usize) -> Hub {
        Hub::new(HubConfig {
            host_name: "h".into(),
            service_key: "k".into(),
            max_telemetry: max,
        })
    }

    #[test]
    fn persist_commit_then_load_round_trip_succeeds() {
        let dir = std::env::temp_dir().join(format!("hubwire-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        let mut h = hub(10);
        let id = IdentityId::device("d");
        h.put_identity(1, &id, None, None, ("AAAA".into(), "BBBB".into()))
            .unwrap();
        let mut p = Persist::open(&path, "svc", 10, &h).unwrap();
        h.send_c2d(
            1,
            "d",
            C2dMessage {
                message_id: Some("c1".into()),
                ..C2dMessage::default()
            },
        )
        .unwrap();
        let outs: Vec<Output> = std::iter::from_fn(|| h.poll_output()).collect();
        let dirty = h.take_dirty();
        assert!(dirty, "a queued C2D message is state");
        p.commit(&h, &outs, dirty);
        let back = load(&path).unwrap().unwrap();
        assert_eq!(back.service_key, "svc");
        assert!(back.registry.get(&id).is_some());
        let mut h2 = hub(10);
        h2.set_registry(back.registry);
        h2.import_runtime(&back.runtime).unwrap();
        assert_eq!(h2.c2d_pending("d"), 1);
        // A journal whose last line was cut off by a kill still loads.
        std::fs::write(journal_path(&path), "{\"seq\":1,\"devi").unwrap();
        assert!(load(&path).unwrap().unwrap().telemetry.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(load(&path).unwrap().is_none());
    }
}
