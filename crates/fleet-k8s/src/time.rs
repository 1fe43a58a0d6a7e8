//! The one boundary between k8s-openapi's date-time type and ours.
//!
//! k8s-openapi 0.29 carries jiff 0.2 timestamps (`metadata.creationTimestamp`, container state
//! times, event times). Every public type of this crate uses jiff 1.x (`jiff::Timestamp`); the
//! conversion happens here and nowhere else. Raw k8s-openapi objects that the crate hands out
//! on request (`DeploymentInfo::raw`, `RolloutRevision::template`) keep their own types.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};

/// A k8s-openapi instant as a jiff 1.x instant. Both versions cover the same range (years
/// -9999 to 9999), so the conversion only fails on values neither could hold.
pub(crate) fn timestamp(t: k8s_openapi::jiff::Timestamp) -> Option<jiff::Timestamp> {
    jiff::Timestamp::new(t.as_second(), t.subsec_nanosecond()).ok()
}

/// `metav1.Time` (seconds precision on the wire).
pub(crate) fn from_time(t: Option<&Time>) -> Option<jiff::Timestamp> {
    t.and_then(|t| timestamp(t.0))
}

/// `metav1.MicroTime` (microseconds precision on the wire).
pub(crate) fn from_micro_time(t: Option<&MicroTime>) -> Option<jiff::Timestamp> {
    t.and_then(|t| timestamp(t.0))
}

/// A jiff 1.x instant as `metav1.MicroTime` (for the objects this crate writes).
pub(crate) fn to_micro_time(t: jiff::Timestamp) -> Option<MicroTime> {
    k8s_openapi::jiff::Timestamp::new(t.as_second(), t.subsec_nanosecond())
        .ok()
        .map(MicroTime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_survive_the_conversion() {
        for text in [
            "2026-01-01T00:07:30Z",
            "1970-01-01T00:00:00Z",
            "2026-03-08T07:00:00.123456789Z",
        ] {
            let old: k8s_openapi::jiff::Timestamp = text.parse().expect("jiff 0.2 parses");
            let new = timestamp(old).expect("in range");
            let want: jiff::Timestamp = text.parse().expect("jiff 1 parses");
            assert_eq!(new, want, "{text}");
        }
        // The ends of the range too.
        assert_eq!(
            timestamp(k8s_openapi::jiff::Timestamp::MIN),
            Some(jiff::Timestamp::MIN)
        );
        assert_eq!(
            timestamp(k8s_openapi::jiff::Timestamp::MAX),
            Some(jiff::Timestamp::MAX)
        );
        assert_eq!(from_time(None), None);
    }
}
