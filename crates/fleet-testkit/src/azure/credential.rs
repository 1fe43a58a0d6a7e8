//! A stand-in `TokenCredential` for tests.

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::time::{Duration, OffsetDateTime};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// Issues opaque tokens `replay-token-<n>` valid for one hour and remembers the scopes asked
/// for. The replay accepts any bearer token, so this stands in for a real Entra ID credential.
#[derive(Default)]
pub struct ReplayCredential {
    issued: AtomicU32,
    scopes: Mutex<Vec<String>>,
}

impl std::fmt::Debug for ReplayCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayCredential")
            .field("issued", &self.issued.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl ReplayCredential {
    /// A fresh credential that has issued no token.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many tokens were issued.
    pub fn issued(&self) -> u32 {
        self.issued.load(Ordering::Relaxed)
    }

    /// Every scope requested, in order.
    pub fn scopes(&self) -> Vec<String> {
        self.scopes.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl TokenCredential for ReplayCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let n = self.issued.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut seen) = self.scopes.lock() {
            seen.extend(scopes.iter().map(|s| (*s).to_owned()));
        }
        Ok(AccessToken::new(
            Secret::new(format!("replay-token-{n}")),
            OffsetDateTime::now_utc() + Duration::hours(1),
        ))
    }
}
