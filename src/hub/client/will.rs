//! The last will: a telemetry message the hub publishes for the device when its
//! connection ends without DISCONNECT. It travels in CONNECT, so it is part of the
//! session's configuration.

use super::super::error::Error;
use super::super::telemetry::{self, Telemetry};
use super::{Client, ClientConfig};
use crate::mqtt;

/// The MQTT will for `w` on this identity's telemetry topic; refused like `send_event`
/// would refuse the message (QoS 2, over 256 KiB).
pub(super) fn mqtt_will(config: &ClientConfig, w: &Telemetry) -> Result<mqtt::Will, Error> {
    let topic = telemetry::topic(
        &config.device_id,
        config.module_id.as_deref(),
        &w.system,
        &w.properties,
    );
    telemetry::check(topic.len(), w.payload.len(), w.qos, &w.properties)?;
    Ok(mqtt::Will {
        topic,
        payload: w.payload.clone(),
        qos: w.qos,
        retain: false,
    })
}

impl Client {
    /// Sets the last will (as [`ClientConfig::will`] does at construction) for the
    /// connections that follow; [`ClientConfig::will`] keeps the one given at construction.
    pub fn set_will(&mut self, will: &Telemetry) -> Result<(), Error> {
        self.session.set_will(Some(mqtt_will(&self.config, will)?));
        Ok(())
    }
}
