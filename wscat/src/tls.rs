//! TLS settings from the command line: client options for `wss://` (`--ca`, `--cert`,
//! `--key`, `--passphrase`, `--no-check`) and the server certificate of `--listen` with
//! `--cert`/`--key`.
//!
//! Encrypted private keys are not supported: rustls reads only unencrypted PEM keys. A key
//! that is encrypted (PKCS#8 `ENCRYPTED PRIVATE KEY`, or a legacy `Proc-Type: 4,ENCRYPTED`
//! key) is refused with a message saying how to decrypt it, whether or not `--passphrase`
//! was given.

use std::path::Path;
use std::sync::Arc;

use ws_tokio::tls::rustls::ServerConfig;
use ws_tokio::tls::{self as wtls, TlsOptions};

use crate::args::Args;
use crate::errors::Failure;

/// Reads a file named on the command line.
pub fn read_file(option: &str, path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::new("file", format!("cannot read {option} {}: {e}", path.display())))
}

/// Whether a PEM private key is encrypted.
fn is_encrypted(pem: &[u8]) -> bool {
    let text = String::from_utf8_lossy(pem);
    text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED")
}

/// Reads `--key`, refusing encrypted keys with an explanation.
fn read_key(args: &Args, path: &Path) -> Result<Vec<u8>, Failure> {
    let pem = read_file("--key", path)?;
    if is_encrypted(&pem) {
        let given = if args.passphrase.is_some() { " (--passphrase was given)" } else { "" };
        return Err(Failure::new(
            "tls_config",
            format!(
                "the private key {} is encrypted{given}, and encrypted keys are not supported \
                 (the TLS stack, rustls, reads only unencrypted keys); decrypt it first, e.g. \
                 `openssl pkey -in {} -out key-plain.pem`, and pass that file to --key",
                path.display(),
                path.display()
            ),
        ));
    }
    wtls::private_key_from_pem(&pem)
        .map_err(|e| Failure::new("tls_config", format!("no usable private key in --key {}: {e}", path.display())))?;
    Ok(pem)
}

/// The client TLS options the arguments ask for.
pub fn client_options(args: &Args) -> Result<TlsOptions, Failure> {
    let mut options = TlsOptions::new();
    if let Some(ca) = &args.ca {
        let pem = read_file("--ca", ca)?;
        wtls::certs_from_pem(&pem)
            .map_err(|e| Failure::new("tls_config", format!("no usable certificate in --ca {}: {e}", ca.display())))?;
        options = options.ca_pem(pem);
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        let cert_pem = read_file("--cert", cert)?;
        wtls::certs_from_pem(&cert_pem).map_err(|e| {
            Failure::new("tls_config", format!("no usable certificate in --cert {}: {e}", cert.display()))
        })?;
        options = options.client_auth_pem(cert_pem, read_key(args, key)?);
    }
    if args.no_check {
        options = options.danger_accept_invalid_certs(true);
    }
    Ok(options)
}

/// The server TLS config for `--listen` with `--cert` and `--key`, if given.
pub fn server_config(args: &Args) -> Result<Option<Arc<ServerConfig>>, Failure> {
    let (Some(cert), Some(key)) = (&args.cert, &args.key) else {
        return Ok(None);
    };
    let cert_pem = read_file("--cert", cert)?;
    let key_pem = read_key(args, key)?;
    wtls::server_config_from_pem(&cert_pem, &key_pem)
        .map(Some)
        .map_err(|e| Failure::new("tls_config", format!("cannot use --cert/--key as a server certificate: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_keys_are_recognised() {
        assert!(is_encrypted(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMII...\n"));
        assert!(is_encrypted(b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: x\n"));
        assert!(!is_encrypted(b"-----BEGIN PRIVATE KEY-----\nMII...\n"));
    }
}
