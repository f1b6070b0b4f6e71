//! Named time spans summed across threads, for the benchmark ([`crate::bench`]).
//!
//! Off by default: [`time`] then costs one relaxed atomic load. [`start`] turns it on and
//! [`take`] returns (and clears) the sums.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static ENABLED: AtomicBool = AtomicBool::new(false);
static TOTALS: Mutex<BTreeMap<&'static str, (Duration, u64)>> = Mutex::new(BTreeMap::new());

/// Clears the sums and starts recording.
pub fn start() {
    TOTALS.lock().expect("stopwatch lock").clear();
    ENABLED.store(true, Ordering::Relaxed);
}

/// Stops recording and returns each span's total time and count.
pub fn take() -> BTreeMap<&'static str, (Duration, u64)> {
    ENABLED.store(false, Ordering::Relaxed);
    std::mem::take(&mut *TOTALS.lock().expect("stopwatch lock"))
}

/// Adds `d` to the span `name`.
pub fn add(name: &'static str, d: Duration) {
    if ENABLED.load(Ordering::Relaxed) {
        let mut t = TOTALS.lock().expect("stopwatch lock");
        let e = t.entry(name).or_default();
        e.0 += d;
        e.1 += 1;
    }
}

/// Runs `f`, adding its time to the span `name` when recording.
pub fn time<R>(name: &'static str, f: impl FnOnce() -> R) -> R {
    if !ENABLED.load(Ordering::Relaxed) {
        return f();
    }
    let start = Instant::now();
    let r = f();
    add(name, start.elapsed());
    r
}

/// Adds the time until it is dropped to a span.
pub struct Span(&'static str, Option<Instant>);

impl Span {
    /// Starts timing `name` (when recording).
    pub fn new(name: &'static str) -> Self {
        Self(name, ENABLED.load(Ordering::Relaxed).then(Instant::now))
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(t) = self.1 {
            add(self.0, t.elapsed());
        }
    }
}
