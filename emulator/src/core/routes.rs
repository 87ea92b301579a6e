//! IoT Edge routes between the modules of one device: a route table per device
//! (`{"routes": {"name": "FROM /messages/modules/m/outputs/o INTO
//! BrokeredEndpoint(\"/modules/n/inputs/i\")"}}`, the shape of `$edgeHub`'s
//! desired properties), and per-module input queues delivered on
//! `devices/{d}/modules/{n}/inputs/{i}/{bag}` with QoS 1 until PUBACK.
//!
//! Every message is still recorded in the telemetry log (what reached the
//! hub); a route to `BrokeredEndpoint` also queues a copy for the input.

use std::collections::{BTreeMap, HashMap, VecDeque};

use hubwire::hub::encoding::{push_pair, PropertyBag};
use hubwire::hub::telemetry::SystemProperties;
use serde_json::{json, Map, Value};

use super::registry::IdentityId;
use super::*;

/// Input messages kept per module while it is offline or unsubscribed; the oldest
/// is dropped beyond this (IoT Edge drops by time to live instead).
pub const MAX_INPUT_QUEUE: usize = 1000;

/// Routes a table may hold (IoT Edge has no documented limit; this bounds the emulator).
pub const MAX_ROUTES: usize = 100;

/// Which messages a route takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `/*` or `/messages/*`: every message of the device and its modules.
    All,
    /// `/messages/modules/*`: every module's messages.
    AllModules,
    /// `/messages/modules/{m}/*`: one module's messages, with or without an output.
    Module(String),
    /// `/messages/modules/{m}/outputs/*`: one module's messages sent to any output.
    AnyOutput(String),
    /// `/messages/modules/{m}/outputs/{o}`.
    Output(String, String),
}

/// Where a route sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// `$upstream`: to the hub (the telemetry log, where every message goes anyway).
    Upstream,
    /// `BrokeredEndpoint("/modules/{module}/inputs/{input}")`.
    Input {
        /// Receiving module.
        module: String,
        /// Its input name.
        input: String,
    },
}

/// One named route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Its name in the table.
    pub name: String,
    /// The text as given.
    pub text: String,
    /// FROM.
    pub source: Source,
    /// INTO.
    pub sink: Sink,
}

fn strip_keyword<'a>(s: &'a str, kw: &str) -> Option<&'a str> {
    let head = s.get(..kw.len())?;
    head.eq_ignore_ascii_case(kw).then(|| &s[kw.len()..])
}

/// Finds ` kw ` (any case, whitespace around) in `s`; returns (before, after).
fn split_keyword<'a>(s: &'a str, kw: &str) -> Option<(&'a str, &'a str)> {
    let lower = s.to_ascii_lowercase();
    let needle = kw.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(&needle) {
        let at = from + i;
        let end = at + needle.len();
        let before_ok = at > 0 && lower.as_bytes()[at - 1].is_ascii_whitespace();
        let after_ok = lower
            .as_bytes()
            .get(end)
            .is_some_and(u8::is_ascii_whitespace);
        if before_ok && after_ok {
            return Some((&s[..at], &s[end..]));
        }
        from = end;
    }
    None
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '*', '"', '(', ')']) && !s.contains(char::is_whitespace)
}

fn parse_source(src: &str) -> Result<Source, String> {
    let parts: Vec<&str> = src.trim_start_matches('/').split('/').collect();
    let bad = || {
        format!(
            "unsupported route source {src:?}: use /*, /messages/*, /messages/modules/*, \
             /messages/modules/{{m}}/*, /messages/modules/{{m}}/outputs/* or /messages/modules/{{m}}/outputs/{{o}}"
        )
    };
    if !src.starts_with('/') {
        return Err(bad());
    }
    match parts.as_slice() {
        ["*"] | ["messages", "*"] => Ok(Source::All),
        ["messages", "modules", "*"] => Ok(Source::AllModules),
        ["messages", "modules", m, "*"] if valid_segment(m) => Ok(Source::Module(m.to_string())),
        ["messages", "modules", m, "outputs", "*"] if valid_segment(m) => {
            Ok(Source::AnyOutput(m.to_string()))
        }
        ["messages", "modules", m, "outputs", o] if valid_segment(m) && valid_segment(o) => {
            Ok(Source::Output(m.to_string(), o.to_string()))
        }
        _ => Err(bad()),
    }
}

fn parse_sink(sink: &str) -> Result<Sink, String> {
    if sink.eq_ignore_ascii_case("$upstream") {
        return Ok(Sink::Upstream);
    }
    let bad = || {
        format!(
            "unsupported route sink {sink:?}: use $upstream or BrokeredEndpoint(\"/modules/{{n}}/inputs/{{i}}\")"
        )
    };
    let inner = strip_keyword(sink, "BrokeredEndpoint")
        .map(str::trim)
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.strip_suffix(')'))
        .map(str::trim)
        .and_then(|r| r.strip_prefix('"'))
        .and_then(|r| r.strip_suffix('"'))
        .ok_or_else(bad)?;
    match inner.split('/').collect::<Vec<_>>().as_slice() {
        ["", "modules", m, "inputs", i] if valid_segment(m) && valid_segment(i) => {
            Ok(Sink::Input {
                module: m.to_string(),
                input: i.to_string(),
            })
        }
        _ => Err(bad()),
    }
}

/// Parses `FROM <source> INTO <sink>` (keywords in any case). `WHERE` conditions
/// and `/twinChangeNotifications` are refused: the emulator does not evaluate them.
pub fn parse_route(name: &str, text: &str) -> Result<Route, String> {
    let t = text.trim();
    let rest = strip_keyword(t, "FROM")
        .filter(|r| r.starts_with(char::is_whitespace))
        .ok_or_else(|| format!("route {name:?} must start with FROM"))?;
    let (src, sink) =
        split_keyword(rest, "INTO").ok_or_else(|| format!("route {name:?} has no INTO"))?;
    if split_keyword(src, "WHERE").is_some() {
        return Err(format!(
            "route {name:?}: WHERE conditions are not supported by the emulator"
        ));
    }
    Ok(Route {
        name: name.to_string(),
        text: text.to_string(),
        source: parse_source(src.trim()).map_err(|e| format!("route {name:?}: {e}"))?,
        sink: parse_sink(sink.trim()).map_err(|e| format!("route {name:?}: {e}"))?,
    })
}

impl Source {
    /// True when a message from `sender` (a module or the device itself) with this
    /// output name is taken.
    pub fn matches(&self, sender: &IdentityId, output: Option<&str>) -> bool {
        let module = sender.module.as_deref();
        match self {
            Source::All => true,
            Source::AllModules => module.is_some(),
            Source::Module(m) => module == Some(m),
            Source::AnyOutput(m) => module == Some(m) && output.is_some(),
            Source::Output(m, o) => module == Some(m) && output == Some(o),
        }
    }
}

/// A message waiting for (or in flight to) a module input.
#[derive(Debug, Clone)]
struct QueuedInput {
    topic: String,
    payload: Vec<u8>,
    inflight: Option<(ConnId, u16)>,
    deliveries: u32,
}

/// Route tables and input queues.
#[derive(Debug, Default)]
pub struct Routing {
    tables: BTreeMap<String, Vec<Route>>,
    queues: HashMap<IdentityId, VecDeque<QueuedInput>>,
    dropped: HashMap<IdentityId, u64>,
}

/// The input topic with the message's properties: its system properties, ending with
/// the sender as `$.cdid`/`$.cmid` (as IoT Edge's hub adds them), then the application ones.
fn input_topic(
    to: &IdentityId,
    input: &str,
    sender: &IdentityId,
    system: &SystemProperties,
    properties: &PropertyBag,
) -> String {
    let mut out = format!(
        "devices/{}/modules/{}/inputs/{input}/",
        to.device,
        to.module.as_deref().unwrap_or_default()
    );
    let start = out.len();
    let system = SystemProperties {
        output_name: None,
        connection_device_id: Some(sender.device.clone()),
        connection_module_id: sender.module.clone(),
        ..system.clone()
    };
    system.encode_into(&mut out, start);
    for (k, v) in properties {
        push_pair(&mut out, start, k, v.as_deref());
    }
    out
}

fn routes_json(routes: &[Route]) -> Value {
    let mut m = Map::new();
    for r in routes {
        m.insert(r.name.clone(), Value::from(r.text.as_str()));
    }
    json!({ "routes": m })
}

impl Hub {
    /// Replaces the route table of `device` from `{"routes": {name: "FROM ... INTO ...",
    /// or name: {"route": "...", ...}}}`; returns the table.
    pub fn put_routes(&mut self, device: &str, body: &Value) -> Result<Value, ServiceError> {
        if self.registry.get(&IdentityId::device(device)).is_none() {
            return Err(ServiceError::DeviceNotFound);
        }
        let bad = ServiceError::BadRequest;
        let Some(table) = body.get("routes").and_then(Value::as_object) else {
            return Err(bad(
                "expected {\"routes\": {\"name\": \"FROM ... INTO ...\"}}".into(),
            ));
        };
        if table.len() > MAX_ROUTES {
            return Err(bad(format!("at most {MAX_ROUTES} routes")));
        }
        let mut routes = Vec::new();
        for (name, v) in table {
            // Schema 1.1 lets a route be {"route": "...", "priority": n, "timeToLiveSecs": n}.
            let text = match v {
                Value::String(s) => s.as_str(),
                Value::Object(o) => o.get("route").and_then(Value::as_str).ok_or_else(|| {
                    bad(format!(
                        "route {name:?}: {{\"route\": \"FROM ...\"}} expected"
                    ))
                })?,
                _ => return Err(bad(format!("route {name:?} must be a string"))),
            };
            routes.push(parse_route(name, text).map_err(bad)?);
        }
        let json = routes_json(&routes);
        if routes.is_empty() {
            self.routing.tables.remove(device);
        } else {
            self.routing.tables.insert(device.to_string(), routes);
        }
        Ok(json)
    }

    /// The route table of `device` (empty when none was set).
    pub fn routes_json(&self, device: &str) -> Result<Value, ServiceError> {
        if self.registry.get(&IdentityId::device(device)).is_none() {
            return Err(ServiceError::DeviceNotFound);
        }
        let routes = self
            .routing
            .tables
            .get(device)
            .map_or(&[][..], Vec::as_slice);
        Ok(routes_json(routes))
    }

    /// Input messages waiting for a module (in flight included) and how many were dropped.
    pub fn input_queue_info(&self, id: &IdentityId) -> (usize, u64) {
        (
            self.routing.queues.get(id).map_or(0, VecDeque::len),
            self.routing.dropped.get(id).copied().unwrap_or(0),
        )
    }

    /// Queues a copy of a message from `sender` for each input a route of its device
    /// sends it to, and delivers what the receivers are subscribed for.
    pub(super) fn route_message(
        &mut self,
        sender: &IdentityId,
        system: &SystemProperties,
        properties: &PropertyBag,
        payload: &[u8],
    ) {
        let Some(routes) = self.routing.tables.get(&sender.device) else {
            return;
        };
        let output = system.output_name.as_deref();
        let mut targets: Vec<(IdentityId, String)> = Vec::new();
        for r in routes.iter().filter(|r| r.source.matches(sender, output)) {
            if let Sink::Input { module, input } = &r.sink {
                let t = (IdentityId::module(&sender.device, module), input.clone());
                if !targets.contains(&t) {
                    targets.push(t);
                }
            }
        }
        for (to, input) in targets {
            if self.registry.get(&to).is_none() {
                continue;
            }
            let topic = input_topic(&to, &input, sender, system, properties);
            if topic.len() > usize::from(u16::MAX) {
                continue;
            }
            let q = self.routing.queues.entry(to.clone()).or_default();
            if q.len() >= MAX_INPUT_QUEUE {
                if let Some(i) = q.iter().position(|m| m.inflight.is_none()) {
                    q.remove(i);
                    *self.routing.dropped.entry(to.clone()).or_default() += 1;
                } else {
                    continue;
                }
            }
            q.push_back(QueuedInput {
                topic,
                payload: payload.to_vec(),
                inflight: None,
                deliveries: 0,
            });
            self.deliver_inputs(&to);
        }
    }

    /// Sends the queued input messages of a connected, subscribed module.
    pub(super) fn deliver_inputs(&mut self, id: &IdentityId) {
        if id.module.is_none() {
            return;
        }
        let Some((conn, qos)) = self.subscribed(id, Sub::Inputs) else {
            return;
        };
        let (Some(queue), Some(c)) = (self.routing.queues.get_mut(id), self.conns.get_mut(&conn))
        else {
            return;
        };
        let mut out = Vec::new();
        for m in queue.iter_mut().filter(|m| m.inflight.is_none()) {
            let mut p = Publish::new(m.topic.clone(), qos, m.payload.clone());
            if qos == QoS::AtLeastOnce {
                p.pkid = c.next_pkid();
                p.dup = m.deliveries > 0;
                m.inflight = Some((conn, p.pkid));
                c.inflight.insert(p.pkid);
            }
            m.deliveries += 1;
            out.push(p);
        }
        if qos == QoS::AtMostOnce {
            queue.clear();
        }
        for p in out {
            self.transmit(conn, &Packet::Publish(p));
        }
    }

    /// A PUBACK from a module: the input message it acknowledges is done.
    pub(super) fn input_acked(&mut self, id: &IdentityId, conn: ConnId, pkid: u16) {
        if let Some(q) = self.routing.queues.get_mut(id) {
            q.retain(|m| m.inflight != Some((conn, pkid)));
        }
    }

    /// The connection of a module ended: what was in flight on it is sent again later.
    pub(super) fn inputs_conn_closed(&mut self, id: &IdentityId, conn: ConnId) {
        if let Some(q) = self.routing.queues.get_mut(id) {
            for m in q
                .iter_mut()
                .filter(|m| m.inflight.is_some_and(|(c, _)| c == conn))
            {
                m.inflight = None;
            }
        }
    }

    /// An identity was deleted: its queue and (for a device) its route table go.
    pub(super) fn routing_forget(&mut self, id: &IdentityId) {
        self.routing.queues.remove(id);
        self.routing.dropped.remove(id);
        if id.module.is_none() {
            self.routing.tables.remove(&id.device);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_route_edge_forms_succeeds() {
        let r = parse_route(
            "r1",
            r#"FROM /messages/modules/sensor/outputs/temp INTO BrokeredEndpoint("/modules/filter/inputs/in1")"#,
        )
        .unwrap();
        assert_eq!(r.source, Source::Output("sensor".into(), "temp".into()));
        assert_eq!(
            r.sink,
            Sink::Input {
                module: "filter".into(),
                input: "in1".into()
            }
        );
        let up = parse_route("up", "from /messages/* into $upstream").unwrap();
        assert_eq!((up.source, up.sink), (Source::All, Sink::Upstream));
        let any = parse_route(
            "a",
            "FROM /messages/modules/m/outputs/*  INTO  brokeredEndpoint ( \"/modules/n/inputs/x\" )",
        )
        .unwrap();
        assert_eq!(any.source, Source::AnyOutput("m".into()));
        assert_eq!(
            parse_route("b", "FROM /messages/modules/m/* INTO $upstream")
                .unwrap()
                .source,
            Source::Module("m".into())
        );
    }

    #[test]
    fn parse_route_unsupported_fails() {
        for (text, why) in [
            ("/messages/* INTO $upstream", "FROM"),
            ("FROM /messages/*", "INTO"),
            (
                "FROM /messages/* WHERE temp > 1 INTO $upstream",
                "WHERE conditions",
            ),
            ("FROM /twinChangeNotifications INTO $upstream", "source"),
            (
                "FROM /messages/modules/m/outputs/a/b INTO $upstream",
                "source",
            ),
            (
                "FROM /messages/* INTO BrokeredEndpoint(\"/modules/n\")",
                "sink",
            ),
            ("FROM /messages/* INTO $downstream", "sink"),
        ] {
            let e = parse_route("r", text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn source_matches_sender_and_output_succeeds() {
        let m = IdentityId::module("d", "m");
        let dev = IdentityId::device("d");
        assert!(Source::All.matches(&dev, None));
        assert!(!Source::AllModules.matches(&dev, None));
        assert!(Source::Module("m".into()).matches(&m, None));
        assert!(!Source::AnyOutput("m".into()).matches(&m, None));
        assert!(Source::AnyOutput("m".into()).matches(&m, Some("o")));
        assert!(Source::Output("m".into(), "o".into()).matches(&m, Some("o")));
        assert!(!Source::Output("m".into(), "o".into()).matches(&m, Some("p")));
        assert!(!Source::Output("x".into(), "o".into()).matches(&m, Some("o")));
    }

    #[test]
    fn input_topic_carries_sender_and_properties_succeeds() {
        let sys = SystemProperties {
            message_id: Some("m 1".into()),
            output_name: Some("out".into()),
            ..SystemProperties::default()
        };
        let t = input_topic(
            &IdentityId::module("d", "n"),
            "in1",
            &IdentityId::module("d", "m"),
            &sys,
            &vec![("k".into(), Some("v&w".into())), ("flag".into(), None)],
        );
        assert_eq!(
            t,
            "devices/d/modules/n/inputs/in1/%24.mid=m%201&%24.cdid=d&%24.cmid=m&k=v%26w&flag"
        );
    }
}
