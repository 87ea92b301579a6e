//! Reassembles MQTT packets from WebSocket messages (MQTT 3.1.1 §6).
//!
//! A message may hold part of a packet, one packet, or several. The framer
//! reads the fixed header byte by byte, checks the announced size against the
//! limit *before* reserving any buffer for the body, and then copies exactly
//! that many bytes. It never allocates more than the limit for one packet.

use crate::prelude::*;

use super::error::Error;

/// Incremental packet framer with a size limit.
#[derive(Debug, Clone)]
pub struct Framer {
    max_packet: usize,
    header: [u8; 5],
    header_len: usize,
    frame: Vec<u8>,
    total: usize,
}

impl Framer {
    /// A framer refusing packets (header included) larger than `max_packet` bytes.
    pub fn new(max_packet: usize) -> Framer {
        Framer {
            max_packet,
            header: [0; 5],
            header_len: 0,
            frame: Vec::new(),
            total: 0,
        }
    }

    /// Forget any partial packet (after a connection ends).
    pub fn reset(&mut self) {
        self.header_len = 0;
        self.total = 0;
        self.frame = Vec::new();
    }

    /// Bytes of a partial packet currently held.
    pub fn buffered(&self) -> usize {
        if self.total == 0 {
            self.header_len
        } else {
            self.frame.len()
        }
    }

    /// Consume bytes from the front of `input` until one packet is complete.
    ///
    /// Returns `Ok(Some(frame))` with the whole packet (fixed header
    /// included) and leaves the rest in `input`; `Ok(None)` when `input` ran
    /// out first (the partial packet is kept). After an error the framer must
    /// be [`reset`](Framer::reset).
    pub fn next_frame(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, Error> {
        if self.total == 0 {
            loop {
                if self.header_len >= 2 && self.header[self.header_len - 1] & 0x80 == 0 {
                    break;
                }
                if self.header_len == 5 {
                    return Err(Error::MalformedRemainingLength);
                }
                let Some((&b, rest)) = input.split_first() else {
                    return Ok(None);
                };
                *input = rest;
                self.header[self.header_len] = b;
                self.header_len += 1;
            }
            let mut remaining = 0usize;
            for (i, b) in self.header[1..self.header_len].iter().enumerate() {
                remaining |= usize::from(b & 0x7f) << (7 * i);
            }
            let size = self.header_len.saturating_add(remaining);
            if size > self.max_packet {
                return Err(Error::PacketTooLarge {
                    size,
                    max: self.max_packet,
                });
            }
            let mut frame = Vec::with_capacity(size);
            frame.extend_from_slice(&self.header[..self.header_len]);
            self.frame = frame;
            self.total = size;
        }
        let need = self.total - self.frame.len();
        let take = need.min(input.len());
        self.frame.extend_from_slice(&input[..take]);
        *input = &input[take..];
        if self.frame.len() < self.total {
            return Ok(None);
        }
        self.header_len = 0;
        self.total = 0;
        Ok(Some(core::mem::take(&mut self.frame)))
    }
}
