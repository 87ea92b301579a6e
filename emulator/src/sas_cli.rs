//! `hubwire-emulator sas --connection-string CS [--ttl SECS]`: prints a SAS token,
//! e.g. for `curl -H "Authorization: $(hubwire-emulator sas ...)"`.

use crate::core::auth::make_token;

/// Builds a token from a device, module or service connection string.
pub fn token_from_connection_string(
    cs: &str,
    now_secs: u64,
    ttl_secs: u64,
) -> Result<String, String> {
    let mut host = None;
    let (mut device, mut module, mut key_name, mut key) = (None, None, None, None);
    for part in cs.split(';').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("not key=value: {part}"))?;
        match k.trim() {
            "HostName" => host = Some(v),
            "DeviceId" => device = Some(v),
            "ModuleId" => module = Some(v),
            "SharedAccessKeyName" => key_name = Some(v),
            "SharedAccessKey" => key = Some(v),
            _ => {}
        }
    }
    let host = host.ok_or("connection string lacks HostName")?;
    let key = key.ok_or("connection string lacks SharedAccessKey")?;
    let resource = match (device, module, key_name) {
        (_, _, Some(_)) => host.to_string(),
        (Some(d), Some(m), None) => format!("{host}/devices/{d}/modules/{m}"),
        (Some(d), None, None) => format!("{host}/devices/{d}"),
        (None, _, None) => {
            return Err("connection string needs DeviceId or SharedAccessKeyName".into())
        }
    };
    make_token(&resource, key, key_name, now_secs + ttl_secs)
        .ok_or_else(|| "SharedAccessKey is not base64".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::auth::SasToken;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn token_service_connection_string_succeeds() {
        let cs =
            format!("HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey={KEY}");
        let t = SasToken::parse(&token_from_connection_string(&cs, 100, 3600).unwrap()).unwrap();
        assert!(t.names("localhost", ""));
        assert_eq!((t.expiry(), t.key_name()), (3700, Some("iothubowner")));
        assert!(t.signed_by(KEY));
    }

    #[test]
    fn token_device_connection_string_matches_vector_succeeds() {
        let cs = format!("HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey={KEY}");
        let t = token_from_connection_string(&cs, 1_699_999_000, 1000).unwrap();
        assert_eq!(t, "SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=i%2BYmMcSSZc4KzBi6ejz3l0iL%2B2sN0CE3q6vSm837h2g%3D&se=1700000000");
    }

    #[test]
    fn token_missing_key_fails() {
        assert!(token_from_connection_string("HostName=h;DeviceId=d", 0, 1).is_err());
        assert!(token_from_connection_string("HostName=h;SharedAccessKey=AAAA", 0, 1).is_err());
    }
}
