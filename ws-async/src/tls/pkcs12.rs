//! PKCS#12 (PFX) bundles: a certificate chain and its private key in one DER file protected by
//! a passphrase (Node's `pfx` and `passphrase` TLS options), for client certificates
//! ([`TlsOptions::client_auth_pkcs12`](super::TlsOptions::client_auth_pkcs12)) and server
//! certificates ([`server_config_from_pkcs12`]).
//!
//! Read with the `p12-keystore` crate: PBES2 bundles (PBKDF2 and AES, what OpenSSL 3 writes)
//! and the legacy 3DES and RC2 ones (`openssl pkcs12 -legacy`, older tools, Windows exports).
//! The private key is paired with its certificate by the bundle's `localKeyId` attribute,
//! which every common tool writes; the chain is that certificate followed by its issuers found
//! in the bundle.

use std::fmt;
use std::io;
use std::sync::Arc;

use p12_keystore::error::Error as P12Error;
use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

/// Why a PKCS#12 bundle could not be used. The functions of this module return it inside an
/// [`io::Error`] of kind `InvalidInput` (reach it with `error.get_ref()` and
/// `downcast_ref::<Pkcs12Error>()`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pkcs12Error {
    /// The passphrase does not open the bundle: its integrity check (MAC) failed, or its
    /// contents did not decrypt.
    WrongPassphrase,
    /// Not a PKCS#12 bundle, or a damaged one (the reason). A PEM file is not one: PKCS#12 is
    /// binary DER.
    Malformed(String),
    /// A bundle using an algorithm this crate cannot read (the reason).
    Unsupported(String),
    /// The bundle opened but holds no private key together with its certificate.
    NoIdentity,
}

impl fmt::Display for Pkcs12Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongPassphrase => f.write_str("wrong passphrase for the PKCS#12 bundle"),
            Self::Malformed(why) => write!(f, "not a valid PKCS#12 bundle: {why}"),
            Self::Unsupported(why) => write!(f, "unsupported PKCS#12 bundle: {why}"),
            Self::NoIdentity => f.write_str("the PKCS#12 bundle holds no private key with its certificate"),
        }
    }
}

impl std::error::Error for Pkcs12Error {}

impl From<Pkcs12Error> for io::Error {
    fn from(e: Pkcs12Error) -> Self {
        Self::new(io::ErrorKind::InvalidInput, e)
    }
}

/// What a `p12-keystore` error means for the user.
fn classify(e: P12Error) -> Pkcs12Error {
    match e {
        // The MAC covers the whole bundle and is checked first: a wrong passphrase fails it.
        // A bundle without a MAC shows a wrong passphrase as a decryption that does not unpad
        // (PBES1), or that PBES2 reports failed (`p12-keystore` passes that error on as text).
        P12Error::MacError(_) | P12Error::UnpadError => Pkcs12Error::WrongPassphrase,
        P12Error::Pkcs5Error(why) if why.contains("decryption failed") => Pkcs12Error::WrongPassphrase,
        P12Error::Pkcs5Error(why) => Pkcs12Error::Unsupported(why),
        e @ (P12Error::UnsupportedEncryptionScheme
        | P12Error::UnsupportedMacAlgorithm
        | P12Error::UnsupportedCertificateType
        | P12Error::UnsupportedContentType) => Pkcs12Error::Unsupported(e.to_string()),
        e => Pkcs12Error::Malformed(e.to_string()),
    }
}

/// The certificate chain (end entity first) and private key (PKCS#8) in the PKCS#12 bundle
/// `der`, opened with `passphrase` (empty for a bundle made without one). Errors
/// (`InvalidInput`) carry a [`Pkcs12Error`].
pub fn identity_from_pkcs12(
    der: &[u8],
    passphrase: &str,
) -> io::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let store = KeyStore::from_pkcs12(der, passphrase, Pkcs12ImportPolicy::Strict).map_err(classify)?;
    let (_, chain) = store.private_key_chain().ok_or(Pkcs12Error::NoIdentity)?;
    if chain.certs().is_empty() {
        return Err(Pkcs12Error::NoIdentity.into());
    }
    let certs = chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
    Ok((certs, key))
}

/// A rustls server config presenting the certificate chain and key of the PKCS#12 bundle
/// `der` (Node's `pfx` + `passphrase` on an `https.Server`), as
/// [`server_config_from_pem`](super::server_config_from_pem) does for PEM.
pub fn server_config_from_pkcs12(der: &[u8], passphrase: &str) -> io::Result<Arc<ServerConfig>> {
    let (chain, key) = identity_from_pkcs12(der, passphrase)?;
    super::server_config(chain, key, None)
}

/// [`server_config_from_pkcs12`] with mutual TLS, as
/// [`server_config_with_client_auth_pem`](super::server_config_with_client_auth_pem): client
/// certificates are verified against the CA certificates in `client_ca_pem`; `required`
/// refuses clients without one.
pub fn server_config_with_client_auth_pkcs12(
    der: &[u8],
    passphrase: &str,
    client_ca_pem: &[u8],
    required: bool,
) -> io::Result<Arc<ServerConfig>> {
    let (chain, key) = identity_from_pkcs12(der, passphrase)?;
    super::server_config(chain, key, Some((client_ca_pem, required)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_is_wrong() {
        let e = identity_from_pkcs12(b"-----BEGIN CERTIFICATE-----\n", "x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let inner = e.get_ref().and_then(|e| e.downcast_ref::<Pkcs12Error>()).unwrap();
        assert!(matches!(inner, Pkcs12Error::Malformed(_)), "{inner:?}");
        assert!(e.to_string().starts_with("not a valid PKCS#12 bundle: "), "{e}");
        assert!(matches!(classify(P12Error::UnpadError), Pkcs12Error::WrongPassphrase));
        assert!(matches!(classify(P12Error::UnsupportedMacAlgorithm), Pkcs12Error::Unsupported(_)));
        assert_eq!(Pkcs12Error::WrongPassphrase.to_string(), "wrong passphrase for the PKCS#12 bundle");
    }
}
