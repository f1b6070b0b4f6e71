//! Virtual time. The model never reads a clock: time passes only through `sleep` ops.

/// Milliseconds since the start of a scenario, on the model's clock.
pub type Millis = u64;

/// Linux `TCP_TIMEWAIT_LEN`: how long TIME-WAIT lasts (60 s, compiled in; no sysctl changes it).
pub const TIME_WAIT_LEN_MS: Millis = 60_000;

/// Linux `TCP_TIMEOUT_MIN` (2 jiffies): 8 ms at HZ=250, the HZ of Debian's kernels (2 ms at
/// HZ=1000, 20 ms at HZ=100).
pub const TIMEOUT_MIN_MS: Millis = 8;

/// How long the harness lets a blocking call wait before it calls it `BLOCKS` (its
/// SO_RCVTIMEO/SO_SNDTIMEO): what happens to the socket within that time, the call sees. Long
/// enough that a 2-jiffy timer inside the call is not missed on a loaded machine.
pub const BLOCKING_BOUND_MS: Millis = 100;

/// Linux `TCP_FIN_TIMEOUT_MAX`: the largest TCP_LINGER2 accepted (120 s, larger values clamp).
pub const FIN_TIMEOUT_MAX_S: i32 = 120;

/// Writes a duration the way scenarios and `ss` write it: `250ms`, `3s`, `1.5s`, `60s`.
pub fn show_ms(ms: Millis) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        let s = format!("{:.3}", ms as f64 / 1000.0);
        format!("{}s", s.trim_end_matches('0'))
    }
}

/// Parses `250ms`, `3s`, `1.5s` (a bare number is milliseconds).
pub fn parse_ms(text: &str) -> Option<Millis> {
    let t = text.trim();
    if let Some(n) = t.strip_suffix("ms") {
        n.trim().parse().ok()
    } else if let Some(n) = t.strip_suffix('s') {
        let secs: f64 = n.trim().parse().ok()?;
        (secs >= 0.0 && secs.is_finite()).then(|| (secs * 1000.0).round() as Millis)
    } else {
        t.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for ms in [0, 5, 999, 1000, 1500, 60_000, 61_250] {
            assert_eq!(parse_ms(&show_ms(ms)), Some(ms), "{}", show_ms(ms));
        }
        assert_eq!(parse_ms("2"), Some(2));
        assert_eq!(parse_ms("x"), None);
    }
}
