//! `/emulator/routes/{deviceId}`: the IoT Edge route table of a device's modules
//! (`core::routes`), read with GET and replaced with PUT.

use hyper::Method;
use serde_json::{json, Value};

use crate::http::{error, json_response, service_error, Body};
use crate::shared::Shared;

/// GET: `{routes: {name: text}, inputQueues: {module: {pending, dropped}}}`;
/// PUT `{routes: {...}}` (an empty object clears the table): the table.
pub fn route(sh: &Shared, m: &Method, device: &str, body: &[u8]) -> hyper::Response<Body> {
    let r = match *m {
        Method::GET => sh.with(|h, _| {
            let mut v = h.routes_json(device)?;
            let mut queues = serde_json::Map::new();
            for module in h.registry().modules(device) {
                let (pending, dropped) = h.input_queue_info(&module.id);
                if let Some(name) = &module.id.module {
                    queues.insert(
                        name.clone(),
                        json!({ "pending": pending, "dropped": dropped }),
                    );
                }
            }
            v["inputQueues"] = Value::Object(queues);
            Ok(v)
        }),
        Method::PUT => match crate::core::parse_json(body) {
            Ok(v) => sh.with(|h, _| h.put_routes(device, &v)),
            Err(e) => Err(e),
        },
        _ => return error(405, "MethodNotAllowed", "use GET or PUT"),
    };
    match r {
        Ok(v) => json_response(200, &v),
        Err(e) => service_error(e),
    }
}
