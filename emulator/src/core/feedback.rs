//! Cloud-to-device feedback: what became of each message sent with
//! `iothub-ack`, as the records IoT Hub puts in the bodies of the messages on
//! its service-bound feedback endpoint (`/messages/servicebound/feedback`).

use std::collections::VecDeque;

use serde_json::Value;

use super::limits::{FEEDBACK_TTL_MS, MAX_FEEDBACK_RECORDS};
use super::time::iso8601;

/// The final state of a cloud-to-device message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The device acknowledged it (PUBACK): *Completed*.
    Success,
    /// Its expiry time passed before the device acknowledged it: *Dead lettered*.
    Expired,
    /// It was delivered the maximum number of times without acknowledgement: *Dead lettered*.
    DeliveryCountExceeded,
    /// The device's session dropped it (a clean-session CONNECT): *Dead lettered*.
    Rejected,
}

impl Outcome {
    /// The record's `statusCode` (and `description`).
    pub fn status_code(self) -> &'static str {
        match self {
            Outcome::Success => "Success",
            Outcome::Expired => "Expired",
            Outcome::DeliveryCountExceeded => "DeliveryCountExceeded",
            Outcome::Rejected => "Rejected",
        }
    }
}

/// The `iothub-ack` values IoT Hub knows.
pub const ACK_VALUES: [&str; 4] = ["none", "positive", "negative", "full"];

/// Whether a message sent with this `iothub-ack` gets a feedback record for `outcome`:
/// `positive` on completion, `negative` on dead-lettering, `full` on both.
pub fn wanted(ack: Option<&str>, outcome: Outcome) -> bool {
    match ack {
        Some("full") => true,
        Some("positive") => outcome == Outcome::Success,
        Some("negative") => outcome != Outcome::Success,
        _ => false,
    }
}

/// One feedback record.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackRecord {
    /// Position in the log, from 1.
    pub seq: u64,
    /// The message's `message-id`, if it had one.
    pub original_message_id: Option<String>,
    /// When the outcome happened (ms since the epoch).
    pub enqueued_ms: u64,
    /// What happened.
    pub outcome: Outcome,
    /// The target device.
    pub device_id: String,
    /// The target device's generation id.
    pub device_generation_id: String,
}

impl FeedbackRecord {
    /// The record as IoT Hub writes it in a feedback message body, plus `seq`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "seq": self.seq,
            "originalMessageId": self.original_message_id,
            "enqueuedTimeUtc": iso8601(self.enqueued_ms),
            "statusCode": self.outcome.status_code(),
            "description": self.outcome.status_code(),
            "deviceId": self.device_id,
            "deviceGenerationId": self.device_generation_id,
        })
    }
}

/// Feedback records, oldest first; a record is kept for the feedback TTL.
#[derive(Debug, Clone)]
pub struct FeedbackLog {
    items: VecDeque<FeedbackRecord>,
    next_seq: u64,
}

impl Default for FeedbackLog {
    fn default() -> Self {
        FeedbackLog {
            items: VecDeque::new(),
            next_seq: 1,
        }
    }
}

impl FeedbackLog {
    /// Appends a record (its `seq` is assigned here).
    pub fn push(&mut self, mut r: FeedbackRecord) {
        r.seq = self.next_seq;
        self.next_seq += 1;
        if self.items.len() == MAX_FEEDBACK_RECORDS {
            self.items.pop_front();
        }
        self.items.push_back(r);
    }

    /// Records with `seq > after` still within their TTL at `now`, at most
    /// `limit`, and the `after` to pass next time.
    pub fn query(&mut self, now: u64, after: u64, limit: usize) -> (Vec<&FeedbackRecord>, u64) {
        while self
            .items
            .front()
            .is_some_and(|r| r.enqueued_ms.saturating_add(FEEDBACK_TTL_MS) <= now)
        {
            self.items.pop_front();
        }
        let items: Vec<&FeedbackRecord> = self
            .items
            .iter()
            .filter(|r| r.seq > after)
            .take(limit)
            .collect();
        let next = items.last().map_or(after, |r| r.seq);
        (items, next)
    }

    /// Forgets the pending feedback of a deleted device, as IoT Hub does.
    pub fn forget_device(&mut self, device: &str) {
        self.items.retain(|r| r.device_id != device);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(device: &str, at: u64) -> FeedbackRecord {
        FeedbackRecord {
            seq: 0,
            original_message_id: Some("m".into()),
            enqueued_ms: at,
            outcome: Outcome::Expired,
            device_id: device.into(),
            device_generation_id: "g".into(),
        }
    }

    #[test]
    fn feedback_wanted_by_ack_succeeds() {
        use Outcome::*;
        for (ack, outcome, want) in [
            (Some("full"), Success, true),
            (Some("full"), Rejected, true),
            (Some("positive"), Success, true),
            (Some("positive"), Expired, false),
            (Some("negative"), DeliveryCountExceeded, true),
            (Some("negative"), Success, false),
            (Some("none"), Expired, false),
            (None, Success, false),
        ] {
            assert_eq!(wanted(ack, outcome), want, "{ack:?} {outcome:?}");
        }
    }

    #[test]
    fn feedback_log_cursor_ttl_and_device_delete_succeeds() {
        let mut log = FeedbackLog::default();
        log.push(rec("a", 0));
        log.push(rec("b", 1000));
        log.push(rec("a", 2000));
        let (items, next) = log.query(2000, 1, 10);
        assert_eq!(items.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(next, 3);
        let (items, _) = log.query(FEEDBACK_TTL_MS + 1000, 0, 10);
        assert_eq!(items.len(), 1, "the first two are past their TTL");
        log.forget_device("a");
        assert!(log.query(FEEDBACK_TTL_MS + 1000, 0, 10).0.is_empty());
    }
}
