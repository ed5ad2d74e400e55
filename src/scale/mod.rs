//! The Scale v1 HTTP client: a request builder that percent-encodes every
//! path segment ([`Call`]), HTTP Basic auth and the retry policy ([`Scale`]),
//! and the reading of Scale's answers into values or a [`ScaleError`]. It
//! knows nothing of tools or agents: turning a failure into advice for a
//! model is the tools layer's job.

mod call;
mod client;
mod reply;

pub use call::{check_segment, Call, InvalidSegment};
pub use client::{Retry, Scale, CALL_BUDGET_MS};
pub use reply::{not_json, ScaleError};

/// What the native tests of the Scale client and the tools share: a key,
/// its Basic encoding, a base URL and a configuration built from them.
#[cfg(test)]
pub(crate) mod testing {
    use crate::config::{Config, RawSettings};

    pub const KEY: &str = "test_key_abc";
    pub const KEY_B64: &str = "dGVzdF9rZXlfYWJjOg==";
    pub const BASE: &str = "https://api.test/v1";

    /// The callback hosts and e-mails the request-mapping tests use are
    /// allowed here; the callback policy's own tests unset them.
    pub fn config_with(extra: &[(&'static str, &str)]) -> Config {
        let mut pairs = vec![
            ("SCALE_API_KEY", KEY),
            ("SCALE_API_BASE", BASE),
            ("CALLBACK_HOSTS", "cb.test,mine.test"),
            ("CALLBACK_EMAILS", "true"),
        ];
        pairs.extend_from_slice(extra);
        Config::from_raw(&RawSettings::from_pairs(&pairs, true)).expect("test config is valid")
    }

    pub fn config() -> Config {
        config_with(&[])
    }
}
