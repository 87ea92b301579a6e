//! Packet identifiers: 1..=65535, wrapping, never reusing one in flight.

use crate::prelude::*;

/// Allocator of MQTT packet identifiers (MQTT 3.1.1 §2.3.1).
#[derive(Debug, Clone)]
pub struct PacketIds {
    next: u16,
    /// Sorted. A window's worth of ids at a time: a `Vec` is smaller in the wasm than a tree.
    in_use: Vec<u16>,
}

impl Default for PacketIds {
    fn default() -> Self {
        PacketIds::new()
    }
}

impl PacketIds {
    /// An allocator whose first identifier is 1.
    pub fn new() -> PacketIds {
        PacketIds::starting_at(1)
    }

    /// An allocator whose next identifier is `next` (0 is read as 1).
    pub fn starting_at(next: u16) -> PacketIds {
        PacketIds {
            next: next.max(1),
            in_use: Vec::new(),
        }
    }

    /// Take the next free identifier after the last one handed out,
    /// wrapping 65535 -> 1 and skipping identifiers still in use.
    /// `None` when all 65,535 are in use.
    pub fn allocate(&mut self) -> Option<u16> {
        if self.in_use.len() >= usize::from(u16::MAX) {
            return None;
        }
        loop {
            let id = self.next;
            self.next = if id == u16::MAX { 1 } else { id + 1 };
            if let Err(i) = self.in_use.binary_search(&id) {
                self.in_use.insert(i, id);
                return Some(id);
            }
        }
    }

    /// Give an identifier back; `false` if it was not in use.
    pub fn release(&mut self, id: u16) -> bool {
        match self.in_use.binary_search(&id) {
            Ok(i) => {
                self.in_use.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether `id` is currently in use.
    pub fn is_in_use(&self, id: u16) -> bool {
        self.in_use.binary_search(&id).is_ok()
    }

    /// How many identifiers are in use.
    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }
}
