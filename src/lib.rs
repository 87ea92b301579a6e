//! hubwire: Azure IoT Hub device client over MQTT 3.1.1 / WebSocket.
#![forbid(unsafe_code)]
