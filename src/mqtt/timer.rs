//! The session's timers: a small table of deadlines keyed by an enum.

/// The timers a session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// CONNECT sent; CONNACK due by then.
    Connack = 0,
    /// Nothing sent since; a PINGREQ is due then.
    KeepAlive = 1,
    /// PINGREQ sent; something must arrive by then.
    PingResp = 2,
}

const COUNT: usize = 3;

/// Deadlines in milliseconds; `None` is a stopped timer.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<u64>; COUNT],
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, deadline: u64) {
        self.deadlines[timer as usize] = Some(deadline);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; COUNT];
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<u64> {
        self.deadlines[timer as usize]
    }

    /// Whether `timer` is running and its deadline is at or before `now`.
    pub(crate) fn expired(&self, timer: Timer, now: u64) -> bool {
        self.get(timer).is_some_and(|d| d <= now)
    }

    /// The earliest running deadline.
    pub(crate) fn next(&self) -> Option<u64> {
        self.deadlines.iter().flatten().copied().min()
    }
}
