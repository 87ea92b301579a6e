//! The module side of `DeviceClient` (IoT Edge and module identities): output
//! events (`$.on`) and per-input listeners. `sendOutputEvent(o, body, opts)` is
//! `sendEvent(body, { ...opts, outputName: o })` (the core refuses it for a device);
//! a module's input messages arrive like C2D messages (the `message` event, with
//! `inputName`) and `onInputMessage` filters them.

use super::api::DeviceClient;
use super::convert::invalid;
use super::types::MessageOptionsArg;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(inline_js = r#"
export function hwInputListener(name, cb) { return (m) => { if (m.inputName === name) cb(m); }; }
"#)]
extern "C" {
    /// A `message` listener that calls `cb` with the messages of input `name` only.
    #[wasm_bindgen(js_name = hwInputListener)]
    fn input_listener(name: &str, cb: &Function) -> Function;
}

#[wasm_bindgen]
impl DeviceClient {
    /// Sends telemetry to this module's output `outputName` (`$.on`), as `sendEvent`.
    #[wasm_bindgen(js_name = sendOutputEvent, unchecked_return_type = "Promise<void>")]
    pub fn send_output_event(
        &self,
        #[wasm_bindgen(js_name = outputName, unchecked_param_type = "string")] output_name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array | JsonValue")] body: JsValue,
        options: Option<MessageOptionsArg>,
    ) -> Promise {
        let o = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        // Options that are not an object are refused by sendEvent as they are.
        let o = if o.is_object() || o.is_undefined() || o.is_null() {
            let copy = Object::assign(&Object::new(), o.unchecked_ref());
            let _ = Reflect::set(&copy, &"outputName".into(), &output_name);
            copy.into()
        } else {
            o
        };
        self.send_event(body, Some(o.unchecked_into()))
    }

    /// Calls `cb` with the messages routed to this module's input `inputName`.
    #[wasm_bindgen(js_name = onInputMessage)]
    pub fn on_input_message(
        &self,
        #[wasm_bindgen(js_name = inputName, unchecked_param_type = "string")] input_name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(m: C2dMessage) => void")] cb: Function,
    ) -> Result<(), JsValue> {
        let module = self.shared.borrow().core.config().module_id.is_some();
        match input_name.as_string() {
            Some(name) if module && !name.is_empty() => {
                self.listen("message", input_listener(&name, &cb))
            }
            _ => Err(invalid(
                "onInputMessage needs a module identity and an input name",
            )),
        }
    }
}
