//! Options the official SDKs have and the core already supported: the last will
//! (`options.will`), `options.tokenRenewalMarginSeconds` and a message's
//! `creationTime`. Read like the rest of `ClientOptions` (convert.rs): absent means
//! default, a wrong type is `INVALID_ARGUMENT` naming the field.

use super::convert::{self, field, invalid};
use super::host;
use crate::hub;
use crate::text::concat;
use wasm_bindgen::JsValue;

/// `options.will` and `options.tokenRenewalMarginSeconds` into the core's configuration.
pub fn client_options(o: &JsValue, c: &mut hub::ClientConfig) -> Result<(), JsValue> {
    if let Some(w) = field(o, "will") {
        // `will` is a message: `body` plus any `sendEvent` option (properties, qos, …).
        let body = field(&w, "body").unwrap_or(JsValue::UNDEFINED);
        if !w.is_object() || body.is_undefined() {
            return Err(invalid("options.will must be an object with a body"));
        }
        // Its errors name `body` or `options.x` (the will's fields): "options.will: options.qos …".
        c.will = Some(
            convert::telemetry(&body, &w)
                .map_err(|e| invalid(&concat(&["options.will: ", &host::error_message(&e)])))?,
        );
    }
    let margin = "tokenRenewalMarginSeconds";
    if let Some(v) = convert::whole(o, margin, "options.tokenRenewalMarginSeconds", 0.0)? {
        c.token_renew_margin_secs = Some(v);
    }
    Ok(())
}

/// `options.creationTime` (a `Date` or an ISO 8601 string) as the `$.ctime` text.
pub fn creation_time(o: &JsValue) -> Result<Option<String>, JsValue> {
    field(o, "creationTime")
        .map(|t| {
            convert::expiry(&t)
                .map_err(|_| invalid("options.creationTime must be a Date or a string"))
        })
        .transpose()
}
