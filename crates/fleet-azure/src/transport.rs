//! An HTTP transport that trusts given root certificates, for endpoints behind a private CA
//! (Azure Stack Hub, a TLS-inspecting proxy, a local stand-in such as
//! `fleet_testkit::azure::AzureReplay`).

use crate::error::{Error, Result};
use azure_core::http::Transport;
use std::sync::Arc;

/// A transport (for `ClientOptions::transport`) that trusts exactly the certificates in `pem`
/// (one or more PEM blocks), never follows redirects, and decompresses gzip and deflate like
/// azure_core's default client.
///
/// # Errors
/// [`Error::InvalidInput`] when `pem` holds no certificate or the HTTP client cannot be built.
pub fn transport_trusting(pem: &[u8]) -> Result<Transport> {
    let certificates = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| Error::invalid("root_certificates", format!("not PEM certificates: {e}")))?;
    if certificates.is_empty() {
        return Err(Error::invalid(
            "root_certificates",
            "no certificate in the PEM",
        ));
    }
    let client = reqwest::Client::builder()
        .tls_certs_only(certificates)
        .redirect(reqwest::redirect::Policy::none())
        .gzip(true)
        .deflate(true)
        .build()
        .map_err(|e| Error::invalid("root_certificates", format!("building a client: {e}")))?;
    Ok(Transport::new(Arc::new(client)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(transport_trusting(b"not a certificate").is_err());
        assert!(transport_trusting(b"").is_err());
    }
}
