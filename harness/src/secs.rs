//! Durations in reports as seconds, a number (`"elapsed": 1.25`), the way the text reports
//! print them; `#[serde(with = "crate::secs")]` on a `Duration` field.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Writes the duration as seconds.
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Reads seconds (a number), or the `{"secs": …, "nanos": …}` of older reports.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Secs(f64),
        Parts { secs: u64, nanos: u32 },
    }
    match Either::deserialize(d)? {
        Either::Secs(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
        Either::Secs(s) => Err(serde::de::Error::custom(format!("{s} is no duration"))),
        Either::Parts { secs, nanos } => Ok(Duration::new(secs, nanos)),
    }
}

/// The same for an `Option<Duration>` (`null` when absent):
/// `#[serde(with = "crate::secs::option")]`.
pub mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes seconds, or `null`.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    /// Reads seconds, or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super")] Duration);
        Option::<Wrap>::deserialize(d).map(|w| w.map(|w| w.0))
    }
}
