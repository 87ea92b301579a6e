//! Who may CONNECT as an identity: a SAS token in the password signed with the
//! identity's own key (`sas` identities) or with a shared access policy that has
//! `DeviceConnect` (`skn=...`, any identity), or no password and a client
//! certificate whose thumbprint is registered on a `selfSigned` identity.

use super::*;

impl Hub {
    /// Checks the CONNECT credentials for `identity` on `conn`. `Ok(Some(se))`: a token
    /// valid until `se` (seconds); `Ok(None)`: a certificate (no expiry). The error is
    /// the CONNACK code: 4 for no or malformed credentials, 5 for wrong ones.
    pub(super) fn authenticate(
        &self,
        now: u64,
        conn: ConnId,
        identity: &IdentityId,
        password: &str,
    ) -> Result<Option<u64>, ConnectReturnCode> {
        if password.is_empty() {
            let cert = self.conns.get(&conn).and_then(|c| c.client_cert.as_ref());
            let Some(cert) = cert else {
                return Err(ConnectReturnCode::BadUserNamePassword);
            };
            let record = self
                .registry
                .get(identity)
                .ok_or(ConnectReturnCode::NotAuthorized)?;
            return match &record.x509 {
                Some(t) if t.matches(cert) => Ok(None),
                _ => Err(ConnectReturnCode::NotAuthorized),
            };
        }
        let token =
            SasToken::parse(password).map_err(|_| ConnectReturnCode::BadUserNamePassword)?;
        let record = self
            .registry
            .get(identity)
            .ok_or(ConnectReturnCode::NotAuthorized)?;
        let verified = match token.key_name() {
            // A selfSigned identity has no keys of its own to sign with.
            None => {
                record.x509.is_none()
                    && token.names(&self.config.host_name, &identity.resource_path())
                    && token
                        .verify(&[&record.primary_key, &record.secondary_key], now)
                        .is_ok()
            }
            Some(_) => self.policy_may_connect(&token, identity, now),
        };
        if verified {
            Ok(Some(token.expiry()))
        } else {
            Err(ConnectReturnCode::NotAuthorized)
        }
    }
}
