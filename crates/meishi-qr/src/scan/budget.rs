//! How much work a scan may do: a deterministic count of work units with a cap, and a
//! wall-clock deadline as a safety net.

use std::time::{Duration, Instant};

/// The work one scan may do. [`Budget::DEFAULT`] bounds any image within the size limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Work units: about one simple operation on one pixel each. A pass that would go over is
    /// not started. Deterministic: the same image spends the same work on every machine.
    pub work: u64,
    /// Wall-clock time after which no further pass starts. Only a safety net for slow or busy
    /// machines; the work cap is what bounds the scan.
    pub deadline: Duration,
}

impl Budget {
    /// About 0.3 s of work in an optimized build on a 2-core machine (the scan benchmark
    /// measures the time per unit), and a 10 s deadline. The deadline is wall-clock time, which
    /// a busy machine stretches (a test suite on two cores, a phone in power saving): set
    /// tight, it would make the same image read or fail by the machine's load. The work cap is
    /// what bounds a scan; the deadline only catches a cost model that is badly wrong.
    pub const DEFAULT: Budget = Budget {
        work: 300_000_000,
        deadline: Duration::from_secs(10),
    };
}

impl Default for Budget {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a pass did not run its decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Skip {
    /// Its binarization holds fewer than three finder-pattern candidates: no code to find.
    NoFinders,
    /// Its binarization holds more than [`MAX_FINDERS`](super::MAX_FINDERS) candidates: rqrr's
    /// grouping would take too long.
    TooManyFinders,
    /// Its work does not fit what is left of the budget.
    OverBudget,
    /// The deadline passed before it started.
    Deadline,
    /// It scales by more than 2×, and the image is already large enough that the passes at 2×
    /// resolve its modules (see the scanner's pass list).
    LargeEnough,
}

/// Work spent so far against a cap.
pub(crate) struct Meter {
    used: u64,
    cap: u64,
}

impl Meter {
    pub fn new(cap: u64) -> Self {
        Meter { used: 0, cap }
    }
    pub fn unlimited() -> Self {
        Meter::new(u64::MAX)
    }
    pub fn fits(&self, work: u64) -> bool {
        self.used.saturating_add(work) <= self.cap
    }
    pub fn charge(&mut self, work: u64) {
        self.used = self.used.saturating_add(work);
    }
    pub fn used(&self) -> u64 {
        self.used
    }
}

/// The wall-clock side of a [`Budget`].
pub(crate) struct Clock {
    start: Instant,
    deadline: Duration,
}

impl Clock {
    pub fn start(deadline: Duration) -> Self {
        Clock {
            start: Instant::now(),
            deadline,
        }
    }
    pub fn expired(&self) -> bool {
        self.start.elapsed() >= self.deadline
    }
}
