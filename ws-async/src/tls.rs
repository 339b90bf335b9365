//! TLS with rustls (feature `rustls`): client options for `wss://` ([`TlsOptions`], given to
//! [`ClientBuilder::tls`](crate::ClientBuilder::tls)) and server helpers to serve `wss://`
//! ([`server_config_from_pem`]; the bindings add `accept_tls`).
//!
//! The crypto provider is always rustls' `ring` provider ([`crypto_provider`]), passed
//! explicitly to every config built here: nothing depends on a process-wide default provider,
//! so there is no "no default CryptoProvider" panic, whatever else the application links.
//!
//! | Node `tls.connect` / `https.request` option | here |
//! |---|---|
//! | default trust store (Mozilla's, bundled) | the `webpki-roots` Mozilla list, unless custom roots are given |
//! | `ca` | [`TlsOptions::ca_pem`], [`TlsOptions::add_root_certificate`] (replace the built-in roots; [`TlsOptions::built_in_roots`] keeps both) |
//! | `cert` + `key` | [`TlsOptions::client_auth_pem`] |
//! | `pfx` + `passphrase` | [`TlsOptions::client_auth_pkcs12`] |
//! | `servername` | [`TlsOptions::server_name`] (SNI and the name verified) |
//! | `servername: ''` (no SNI) | [`TlsOptions::sni`]`(false)`, or `server_name("")` |
//! | `rejectUnauthorized: false` | [`TlsOptions::danger_accept_invalid_certs`] |
//! | `checkServerIdentity` | [`TlsOptions::check_server_identity`] |
//! | a whole `SecureContext` | [`TlsOptions::client_config`] |
//!
//! Serving `wss://` (a PKCS#12 bundle instead of PEM: [`server_config_from_pkcs12`]):
//!
//! ```no_run
//! use std::sync::Arc;
//! use ws_tokio::tls::{accept_tls, server_config_from_pem, TlsAcceptor};
//! use ws_tokio::{accept_with, Config, ServerOptions};
//!
//! # async fn run(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! let acceptor = TlsAcceptor::from(server_config_from_pem(cert_pem, key_pem)?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9443").await?;
//! let (config, options) = (Arc::new(Config::default()), Arc::new(ServerOptions::default()));
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     let (acceptor, config, options) = (acceptor.clone(), config.clone(), options.clone());
//!     tokio::spawn(async move {
//!         let Ok(tls) = accept_tls(tcp, &acceptor).await else { return };
//!         let Ok(mut ws) = accept_with(tls, config, options).await else { return };
//!         // … ws.recv() / ws.send() …
//! #       let _ = ws.recv().await;
//!     });
//! }
//! # }
//! ```

use std::fmt;
use std::io;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

pub use rustls;

mod pkcs12;

pub use pkcs12::{identity_from_pkcs12, server_config_from_pkcs12, server_config_with_client_auth_pkcs12, Pkcs12Error};

/// An extra server certificate check (Node `checkServerIdentity`): gets the name being verified,
/// the end-entity certificate and the intermediates the server sent; an `Err` fails the TLS
/// handshake with that error.
pub type ServerIdentityCheck =
    dyn Fn(&ServerName<'_>, &CertificateDer<'_>, &[CertificateDer<'_>]) -> Result<(), rustls::Error> + Send + Sync;

/// The crypto provider every config built here uses: rustls' `ring` provider.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// Client TLS settings for `wss://` (Node's `tls.connect` options). The default verifies the
/// server against Mozilla's root list (`webpki-roots`) and the URL's host.
///
/// Builder methods take and return `self`. PEM and PKCS#12 input is parsed when the config is
/// [built](Self::build) (at connect time): errors then surface as
/// [`ConnectError::Tls`](crate::ConnectError::Tls).
#[derive(Clone, Default)]
pub struct TlsOptions {
    ca_pem: Vec<Vec<u8>>,
    ca_der: Vec<CertificateDer<'static>>,
    built_in_roots: Option<bool>,
    client_auth: Option<ClientAuth>,
    server_name: Option<String>,
    no_sni: bool,
    accept_invalid_certs: bool,
    check: Option<Arc<ServerIdentityCheck>>,
    config: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca_pem", &self.ca_pem.len())
            .field("ca_der", &self.ca_der.len())
            .field("built_in_roots", &self.built_in_roots)
            .field("client_auth", &self.client_auth.is_some())
            .field("server_name", &self.server_name)
            .field("sni", &self.is_sni_enabled())
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field("check_server_identity", &self.check.is_some())
            .field("client_config", &self.config.is_some())
            .finish()
    }
}

impl TlsOptions {
    /// The defaults: Mozilla's roots, the URL's host verified, no client certificate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts the certificates in `pem` (one or more `CERTIFICATE` blocks; Node `ca`).
    /// Repeatable. Custom roots replace the built-in list unless
    /// [`built_in_roots(true)`](Self::built_in_roots).
    pub fn ca_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.ca_pem.push(pem.as_ref().to_vec());
        self
    }

    /// Trusts a DER certificate (as [`ca_pem`](Self::ca_pem)).
    pub fn add_root_certificate(mut self, der: CertificateDer<'static>) -> Self {
        self.ca_der.push(der);
        self
    }

    /// Whether Mozilla's built-in roots are trusted. Default: yes when no custom root is given,
    /// no otherwise (as Node's `ca` replaces its bundle).
    pub fn built_in_roots(mut self, on: bool) -> Self {
        self.built_in_roots = Some(on);
        self
    }

    /// Presents a client certificate (mutual TLS; Node `cert` + `key`): the certificate chain,
    /// end entity first, and its private key (PKCS#8, PKCS#1 or SEC1), both PEM.
    pub fn client_auth_pem(mut self, cert_chain_pem: impl AsRef<[u8]>, key_pem: impl AsRef<[u8]>) -> Self {
        self.client_auth = Some(ClientAuth::Pem(cert_chain_pem.as_ref().to_vec(), key_pem.as_ref().to_vec()));
        self
    }

    /// Presents the client certificate and key of a PKCS#12 (PFX) bundle, opened with
    /// `passphrase` (Node `pfx` + `passphrase`; empty for a bundle made without one). The
    /// bundle is read when the config is [built](Self::build): a wrong passphrase or a
    /// malformed bundle then fails the connect with an `InvalidInput` error carrying a
    /// [`Pkcs12Error`]. Replaces [`client_auth_pem`](Self::client_auth_pem).
    pub fn client_auth_pkcs12(mut self, pfx: impl AsRef<[u8]>, passphrase: impl Into<String>) -> Self {
        self.client_auth = Some(ClientAuth::Pkcs12(pfx.as_ref().to_vec(), passphrase.into()));
        self
    }

    /// The name sent as SNI and verified against the certificate, instead of the URL's host
    /// (Node `servername`); a DNS name or an IP address. Useful to connect to an IP address
    /// (or through a tunnel) while verifying the real name. The empty name means, as in Node,
    /// no SNI and the URL's host verified (see [`sni`](Self::sni)).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Whether the TLS ClientHello names the server (SNI, on by default). Off, as Node's
    /// `servername: ''`, no name is sent, e.g. for a server that picks the wrong certificate or
    /// refuses names it does not know; the certificate is still verified against the URL's
    /// host (or [`server_name`](Self::server_name)). Also applies to a
    /// [`client_config`](Self::client_config). IP addresses are never sent as SNI anyway.
    pub fn sni(mut self, on: bool) -> Self {
        self.no_sni = !on;
        self
    }

    /// Whether SNI is sent: [`sni`](Self::sni) is not off and the
    /// [`server_name`](Self::server_name) is not empty.
    pub fn is_sni_enabled(&self) -> bool {
        !self.no_sni && self.server_name.as_deref() != Some("")
    }

    /// The name to verify the certificate against (and to send as SNI, if enabled) for a
    /// connection to `host`: the [`server_name`](Self::server_name) unless unset or empty,
    /// else `host`.
    pub fn verified_name<'a>(&'a self, host: &'a str) -> &'a str {
        self.server_name.as_deref().filter(|n| !n.is_empty()).unwrap_or(host)
    }

    /// **Dangerous.** Accepts any server certificate: expired, self-signed, for another name
    /// (Node `rejectUnauthorized: false`). The connection is encrypted but not authenticated:
    /// anyone on the path can impersonate the server. Handshake signatures are still checked.
    /// A [`check_server_identity`](Self::check_server_identity) hook still runs, and can then
    /// implement fully custom verification (e.g. pinning a self-signed certificate).
    pub fn danger_accept_invalid_certs(mut self, on: bool) -> Self {
        self.accept_invalid_certs = on;
        self
    }

    /// An extra check of the server's certificate (Node `checkServerIdentity`), run after the
    /// standard verification succeeded (or alone with
    /// [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs)): e.g. certificate
    /// or key pinning. Returning `Err` fails the handshake.
    pub fn check_server_identity<F>(mut self, check: F) -> Self
    where
        F: Fn(&ServerName<'_>, &CertificateDer<'_>, &[CertificateDer<'_>]) -> Result<(), rustls::Error>
            + Send
            + Sync
            + 'static,
    {
        self.check = Some(Arc::new(check));
        self
    }

    /// Uses this rustls config as is, ignoring every other option here except
    /// [`server_name`](Self::server_name).
    pub fn client_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.config = Some(config);
        self
    }

    /// The name set with [`server_name`](Self::server_name).
    pub fn get_server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// Builds the rustls client config these options describe (with [`crypto_provider`]).
    /// Errors (`InvalidInput`) for PEM without a certificate or key, an unusable key, or a
    /// PKCS#12 bundle that does not open ([`Pkcs12Error`]).
    pub fn build(&self) -> io::Result<Arc<ClientConfig>> {
        let config = self.build_with_sni()?;
        if self.is_sni_enabled() || !config.enable_sni {
            return Ok(config);
        }
        let mut without_sni = (*config).clone();
        without_sni.enable_sni = false;
        Ok(Arc::new(without_sni))
    }

    /// The config, SNI as rustls' default (on) unless a custom config says otherwise.
    fn build_with_sni(&self) -> io::Result<Arc<ClientConfig>> {
        if let Some(c) = &self.config {
            return Ok(c.clone());
        }
        let default = self.ca_pem.is_empty()
            && self.ca_der.is_empty()
            && self.built_in_roots.is_none()
            && self.client_auth.is_none()
            && !self.accept_invalid_certs
            && self.check.is_none();
        if default {
            static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
            if let Some(c) = DEFAULT.get() {
                return Ok(c.clone());
            }
            let c = self.build_config()?;
            return Ok(DEFAULT.get_or_init(|| c).clone());
        }
        self.build_config()
    }

    fn roots(&self) -> io::Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        let custom = !self.ca_pem.is_empty() || !self.ca_der.is_empty();
        if self.built_in_roots.unwrap_or(!custom) {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for pem in &self.ca_pem {
            for cert in certs_from_pem(pem)? {
                roots.add(cert).map_err(invalid_input)?;
            }
        }
        for cert in &self.ca_der {
            roots.add(cert.clone()).map_err(invalid_input)?;
        }
        Ok(roots)
    }

    fn build_config(&self) -> io::Result<Arc<ClientConfig>> {
        let provider = crypto_provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(invalid_input)?;
        let builder = if self.accept_invalid_certs || self.check.is_some() {
            let standard = if self.accept_invalid_certs {
                None
            } else {
                let roots = Arc::new(self.roots()?);
                Some(
                    WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                        .build()
                        .map_err(invalid_input)?,
                )
            };
            let verifier = Verifier {
                standard,
                check: self.check.clone(),
                algorithms: provider.signature_verification_algorithms,
            };
            builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier))
        } else {
            builder.with_root_certificates(self.roots()?)
        };
        let config = match &self.client_auth {
            Some(auth) => {
                let (chain, key) = auth.identity()?;
                builder.with_client_auth_cert(chain, key).map_err(invalid_input)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// A client certificate as given, decoded when the config is built.
#[derive(Clone)]
enum ClientAuth {
    /// The PEM certificate chain and private key.
    Pem(Vec<u8>, Vec<u8>),
    /// A PKCS#12 bundle and its passphrase.
    Pkcs12(Vec<u8>, String),
}

impl ClientAuth {
    /// The certificate chain and the private key.
    fn identity(&self) -> io::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        match self {
            Self::Pem(chain, key) => Ok((certs_from_pem(chain)?, private_key_from_pem(key)?)),
            Self::Pkcs12(der, passphrase) => identity_from_pkcs12(der, passphrase),
        }
    }
}

/// The server certificate verifier used with `danger_accept_invalid_certs` or a
/// `check_server_identity` hook: the standard WebPKI verification (unless skipped), then the
/// hook. Handshake signatures are always verified.
struct Verifier {
    standard: Option<Arc<WebPkiServerVerifier>>,
    check: Option<Arc<ServerIdentityCheck>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("standard", &self.standard.is_some())
            .field("check", &self.check.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(standard) = &self.standard {
            standard.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        }
        if let Some(check) = &self.check {
            check(server_name, end_entity, intermediates)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Parses every `CERTIFICATE` block of `pem`; `InvalidInput` when there is none or one is
/// malformed.
pub fn certs_from_pem(pem: &[u8]) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(invalid_input)?;
    if certs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no CERTIFICATE in PEM"));
    }
    Ok(certs)
}

/// Parses the first private key (PKCS#8, PKCS#1 or SEC1) of `pem`.
pub fn private_key_from_pem(pem: &[u8]) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(invalid_input)
}

/// A rustls server config presenting `cert_chain_pem` (end entity first) with `key_pem`,
/// without client authentication, with [`crypto_provider`]. Wrap it in a `TlsAcceptor`
/// (`TlsAcceptor::from(config)`) for the binding's `accept_tls`.
pub fn server_config_from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> io::Result<Arc<ServerConfig>> {
    server_config(certs_from_pem(cert_chain_pem)?, private_key_from_pem(key_pem)?, None)
}

/// [`server_config_from_pem`] with mutual TLS: client certificates are verified against the
/// CA certificates in `client_ca_pem`; `required` refuses clients without one (otherwise they
/// are let through unauthenticated, and a presented certificate must still verify).
pub fn server_config_with_client_auth_pem(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: &[u8],
    required: bool,
) -> io::Result<Arc<ServerConfig>> {
    let (chain, key) = (certs_from_pem(cert_chain_pem)?, private_key_from_pem(key_pem)?);
    server_config(chain, key, Some((client_ca_pem, required)))
}

/// A server config presenting `chain` with `key`; with `client_auth`, client certificates are
/// verified against the CA certificates in its PEM (and required when its flag is set).
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_auth: Option<(&[u8], bool)>,
) -> io::Result<Arc<ServerConfig>> {
    let provider = crypto_provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(invalid_input)?;
    let builder = match client_auth {
        Some((client_ca_pem, required)) => {
            let mut roots = RootCertStore::empty();
            for cert in certs_from_pem(client_ca_pem)? {
                roots.add(cert).map_err(invalid_input)?;
            }
            let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if !required {
                verifier = verifier.allow_unauthenticated();
            }
            builder.with_client_cert_verifier(verifier.build().map_err(invalid_input)?)
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(builder.with_single_cert(chain, key).map_err(invalid_input)?))
}

/// The rustls server name for `name` (a DNS name or an IP address), as SNI and for
/// verification.
pub fn server_name(name: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(name.to_owned())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("invalid TLS server name {name:?}")))
}

fn invalid_input(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}
