//! `wss://` through `futures-rustls` (feature `rustls`, ring provider).

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use futures_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use futures_rustls::rustls::crypto::{self, CryptoProvider};
use futures_rustls::rustls::pki_types::pem::PemObject;
use futures_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use futures_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use futures_rustls::TlsConnector;
use http::Response;
use url::Url;
use ws_proto::{ClientRequest, Config};

use crate::error::ConnectError;
use crate::handshake::{connect_with, tcp, ClientStream};
use crate::io as wio;
use crate::stream::WebSocket;

/// Client TLS settings for `wss://` (feature `rustls`; the names follow ws-tokio's
/// `tls::TlsOptions`, a subset of it). The default verifies the server against Mozilla's root
/// list (`webpki-roots`) and the URL's host.
///
/// Builder methods take and return `self`. PEM input is parsed when the config is
/// [built](Self::build), at connect time: errors then surface as [`ConnectError::Tls`].
#[derive(Clone, Default)]
pub struct TlsOptions {
    ca_pem: Vec<Vec<u8>>,
    ca_der: Vec<CertificateDer<'static>>,
    built_in_roots: Option<bool>,
    server_name: Option<String>,
    accept_invalid_certs: bool,
    config: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca_pem", &self.ca_pem.len())
            .field("ca_der", &self.ca_der.len())
            .field("built_in_roots", &self.built_in_roots)
            .field("server_name", &self.server_name)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field("client_config", &self.config.is_some())
            .finish()
    }
}

impl TlsOptions {
    /// The defaults: Mozilla's roots, the URL's host verified.
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

    /// The name sent as SNI and verified against the certificate instead of the URL's host
    /// (Node `servername`): a DNS name or an IP address.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// The name set with [`server_name`](Self::server_name).
    pub fn get_server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// **Dangerous, for tests only.** Accepts any server certificate: expired, self-signed, for
    /// another name (Node `rejectUnauthorized: false`). The connection is encrypted but not
    /// authenticated: anyone on the path can impersonate the server. Handshake signatures are
    /// still checked.
    pub fn danger_accept_invalid_certs(mut self, on: bool) -> Self {
        self.accept_invalid_certs = on;
        self
    }

    /// Uses this rustls config as is (client certificates, ALPN, another provider…), ignoring
    /// every other option here except [`server_name`](Self::server_name).
    pub fn client_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.config = Some(config);
        self
    }

    /// Builds the rustls client config these options describe (ring provider). Errors
    /// (`InvalidInput`) for PEM without a certificate or with a malformed one.
    pub fn build(&self) -> io::Result<Arc<ClientConfig>> {
        if let Some(config) = &self.config {
            return Ok(Arc::clone(config));
        }
        let provider = Arc::new(crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(invalid_input)?;
        let config = if self.accept_invalid_certs {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider))).with_no_client_auth()
        } else {
            builder.with_root_certificates(self.roots()?).with_no_client_auth()
        };
        Ok(Arc::new(config))
    }

    fn roots(&self) -> io::Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        let custom = !self.ca_pem.is_empty() || !self.ca_der.is_empty();
        if self.built_in_roots.unwrap_or(!custom) {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for pem in &self.ca_pem {
            let mut found = false;
            for cert in CertificateDer::pem_slice_iter(pem) {
                roots.add(cert.map_err(invalid_input)?).map_err(invalid_input)?;
                found = true;
            }
            if !found {
                return Err(invalid_input("no CERTIFICATE block in the PEM input"));
            }
        }
        for cert in &self.ca_der {
            roots.add(cert.clone()).map_err(invalid_input)?;
        }
        Ok(roots)
    }
}

fn invalid_input(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

/// Connects to a `ws://`, `ws+unix://` or `wss://` URL like [`connect_config`](crate::connect_config),
/// verifying a `wss://` server as `tls` says.
pub async fn connect_tls(
    url: &str,
    config: Arc<Config>,
    tls: &TlsOptions,
) -> Result<(WebSocket<ClientStream>, Response<()>), ConnectError> {
    let deadline = config.get_handshake_timeout().map(|t| Instant::now() + t);
    let dialed = async {
        let parsed = Url::parse(url).map_err(|e| ConnectError::InvalidUrl(format!("{url:?}: {e}")))?;
        match parsed.scheme() {
            "wss" | "https" => dial(&parsed, tls).await,
            _ => crate::handshake::dial(url).await,
        }
    };
    let (stream, request) = wio::until(deadline, dialed).await.ok_or(ConnectError::Timeout)??;
    let (ws, response) = connect_with(stream, request, config).await?;
    Ok((ws.with_url(url), response))
}

/// TCP, then TLS to the URL's host (or the configured server name).
pub(crate) async fn dial(url: &Url, tls: &TlsOptions) -> Result<(ClientStream, ClientRequest), ConnectError> {
    let request = ClientRequest::from_url(url)?;
    let name = tls.server_name.clone().unwrap_or_else(|| request.host().to_owned());
    let name =
        ServerName::try_from(name).map_err(|e| ConnectError::InvalidUrl(format!("not a TLS server name: {e}")))?;
    let connector = TlsConnector::from(tls.build().map_err(ConnectError::Tls)?);
    let tcp = tcp(&request).await?;
    let stream = connector.connect(name, tcp).await.map_err(ConnectError::Tls)?;
    Ok((ClientStream::Tls(Box::new(stream)), request))
}

/// Accepts every certificate; checks handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
