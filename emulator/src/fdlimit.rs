//! The emulator's own file-descriptor limit: every device connection is one
//! socket, so at start it raises its soft `RLIMIT_NOFILE` to the hard limit
//! (what an unprivileged process may do) and says how many connections that
//! allows, or why it could not.

/// Descriptors kept for everything that is not a device socket (listeners,
/// the state file, stdio, the runtime's own).
pub const RESERVED: u64 = 64;

/// What happened to the limit at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdLimit {
    /// Soft limit before.
    pub before: u64,
    /// Soft limit now.
    pub soft: u64,
    /// Hard limit (the ceiling without privileges).
    pub hard: u64,
    /// Why the limit could not be read or raised, if it could not.
    pub error: Option<String>,
}

impl FdLimit {
    /// Device connections the limit leaves room for.
    pub fn max_connections(&self) -> u64 {
        self.soft.saturating_sub(RESERVED)
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        let room = self.max_connections();
        match &self.error {
            Some(e) => format!(
                "file descriptors: soft limit {} (hard {}), cannot raise it: {e}; room for about {room} device connections (raise with `ulimit -n` before starting)",
                self.soft, self.hard
            ),
            None if self.soft > self.before => format!(
                "file descriptors: soft limit raised from {} to {} (the hard limit): room for about {room} device connections",
                self.before, self.soft
            ),
            None => format!(
                "file descriptors: soft limit {} (hard {}): room for about {room} device connections{}",
                self.soft,
                self.hard,
                if self.soft < self.hard { "" } else { " (raise the hard limit, e.g. `ulimit -Hn` as root or LimitNOFILE=, for more)" }
            ),
        }
    }

    /// The `fdLimit` member of the READY JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "before": self.before,
            "soft": self.soft,
            "hard": self.hard,
            "maxConnections": self.max_connections(),
            "error": self.error,
        })
    }
}

/// Raises the soft limit to the hard limit where the OS allows it.
pub fn raise() -> FdLimit {
    let (before, hard) = match rlimit::Resource::NOFILE.get() {
        Ok(l) => l,
        Err(e) => {
            return FdLimit {
                before: 0,
                soft: 0,
                hard: 0,
                error: Some(format!("getrlimit: {e}")),
            }
        }
    };
    match rlimit::increase_nofile_limit(hard) {
        Ok(soft) => FdLimit {
            before,
            soft,
            hard,
            error: None,
        },
        Err(e) => FdLimit {
            before,
            soft: before,
            hard,
            error: Some(format!("setrlimit: {e}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_reaches_the_hard_limit_succeeds() {
        let l = raise();
        assert_eq!(l.error, None, "{l:?}");
        assert!(l.soft >= l.before);
        // increase_nofile_limit may stop below `hard` only where the OS caps it (macOS OPEN_MAX).
        #[cfg(target_os = "linux")]
        assert_eq!(l.soft, l.hard);
        assert_eq!(raise().soft, l.soft, "raising twice is harmless");
    }

    #[test]
    fn describe_says_what_happened_succeeds() {
        let raised = FdLimit {
            before: 1024,
            soft: 20000,
            hard: 20000,
            error: None,
        };
        assert!(raised.describe().contains("raised from 1024 to 20000"));
        assert_eq!(raised.max_connections(), 20000 - RESERVED);
        let stuck = FdLimit {
            before: 1024,
            soft: 1024,
            hard: 1024,
            error: None,
        };
        assert!(stuck.describe().contains("raise the hard limit"));
        let failed = FdLimit {
            before: 256,
            soft: 256,
            hard: 1024,
            error: Some("setrlimit: EPERM".into()),
        };
        assert!(failed
            .describe()
            .contains("cannot raise it: setrlimit: EPERM"));
        assert_eq!(failed.to_json()["maxConnections"], 192);
    }
}
