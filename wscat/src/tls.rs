//! TLS settings from the command line: client options for `wss://` (`--ca`, `--cert`,
//! `--key`, `--pfx`, `--passphrase`, `--no-check`) and the server certificate of `--listen`
//! with `--cert`/`--key` or `--pfx`.
//!
//! `--key` takes an unencrypted PEM key (PKCS#8, PKCS#1 or SEC1) or an encrypted PKCS#8 key
//! (`-----BEGIN ENCRYPTED PRIVATE KEY-----`, as `openssl genpkey -aes256` or `openssl pkcs8
//! -topk8` write it), which is decrypted here with `--passphrase` (PBES2: PBKDF2 with
//! HMAC-SHA1/SHA-2 or scrypt, and AES-128/192/256-CBC or DES-EDE3-CBC). Legacy encrypted PEM
//! keys (`Proc-Type: 4,ENCRYPTED`, OpenSSL's "traditional" format) and PBES1 are refused
//! with the `openssl` command that converts them.
//!
//! `--pfx` takes a PKCS#12 bundle (Node's `pfx`), read by ws-tokio's TLS options: the
//! passphrase is `--passphrase`'s, or empty without it.

use std::path::Path;
use std::sync::Arc;

use pkcs8::der::pem::PemLabel;
use pkcs8::{EncryptedPrivateKeyInfo, LineEnding, PrivateKeyInfo, SecretDocument};
use ws_tokio::tls::rustls::ServerConfig;
use ws_tokio::tls::{self as wtls, TlsOptions};

use crate::args::Args;
use crate::errors::Failure;
use crate::passphrase;

/// Reads a file named on the command line.
pub fn read_file(option: &str, path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::new("file", format!("cannot read {option} {}: {e}", path.display())))
}

/// The kind of PEM private key in a `--key` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Not encrypted (or not a key at all: rustls' parser says which).
    Plain,
    /// Encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`).
    EncryptedPkcs8,
    /// A legacy encrypted PEM key (`Proc-Type: 4,ENCRYPTED` headers).
    LegacyEncrypted,
}

/// Which kind of key `pem` holds.
pub fn key_kind(pem: &str) -> KeyKind {
    if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        KeyKind::EncryptedPkcs8
    } else if pem.contains("Proc-Type: 4,ENCRYPTED") {
        KeyKind::LegacyEncrypted
    } else {
        KeyKind::Plain
    }
}

/// The `ENCRYPTED PRIVATE KEY` block of `pem`, without text before or after it.
fn encrypted_block(pem: &str) -> Option<&str> {
    const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
    let start = pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----")?;
    let end = pem[start..].find(END)? + start + END.len();
    Some(&pem[start..end])
}

/// Decrypts an encrypted PKCS#8 key (PEM) with `passphrase`; returns the key as unencrypted
/// PKCS#8 PEM (`PRIVATE KEY`). `shown` names the file in messages.
pub fn decrypt_pkcs8(pem: &str, passphrase: &str, shown: &str) -> Result<String, Failure> {
    let fail = |message: String| Failure::new("tls_config", message);
    let block =
        encrypted_block(pem).ok_or_else(|| fail(format!("--key {shown}: no complete ENCRYPTED PRIVATE KEY block")))?;
    let (label, document) = SecretDocument::from_pem(block)
        .map_err(|e| fail(format!("--key {shown}: the encrypted key is not valid PEM: {e}")))?;
    if label != EncryptedPrivateKeyInfo::PEM_LABEL {
        return Err(fail(format!("--key {shown}: unexpected PEM label {label:?}")));
    }
    let info = EncryptedPrivateKeyInfo::try_from(document.as_bytes()).map_err(|e| {
        fail(format!(
            "--key {shown}: cannot read the encrypted key ({e}); supported: PBES2 with PBKDF2 or \
             scrypt and AES-CBC or DES-EDE3-CBC; re-encrypt it with `openssl pkcs8 -topk8 -v2 \
             aes-256-cbc -in {shown} -out NEW.pem`"
        ))
    })?;
    let wrong = || fail(format!("wrong passphrase for the encrypted private key {shown} (--passphrase)"));
    let plain = match info.decrypt(passphrase.as_bytes()) {
        Ok(plain) => plain,
        Err(pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::NoPbes1CryptSupport)) => {
            return Err(fail(format!(
                "--key {shown} is encrypted with PBES1 (an old scheme, e.g. `openssl pkcs8 -v1`), \
                 which is not supported; re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc \
                 -in {shown} -out NEW.pem`"
            )))
        }
        Err(pkcs8::Error::EncryptedPrivateKey(
            e @ (pkcs8::pkcs5::Error::UnsupportedAlgorithm { .. }
            | pkcs8::pkcs5::Error::AlgorithmParametersInvalid { .. }),
        )) => {
            return Err(fail(format!(
                "--key {shown} is encrypted with an unsupported scheme ({e}); re-encrypt it with \
                 `openssl pkcs8 -topk8 -v2 aes-256-cbc -in {shown} -out NEW.pem`"
            )))
        }
        // A wrong key almost always fails the CBC padding check, and otherwise yields bytes
        // that are not a PKCS#8 document.
        Err(_) => return Err(wrong()),
    };
    if PrivateKeyInfo::try_from(plain.as_bytes()).is_err() {
        return Err(wrong());
    }
    let pem = plain
        .to_pem(PrivateKeyInfo::PEM_LABEL, LineEnding::LF)
        .map_err(|e| fail(format!("--key {shown}: cannot re-encode the decrypted key: {e}")))?;
    Ok(pem.as_str().to_owned())
}

/// Reads `--key`: an unencrypted key as it is, an encrypted PKCS#8 key decrypted with
/// `--passphrase` (asked for on the terminal when given without a value).
fn read_key(args: &Args, path: &Path) -> Result<Vec<u8>, Failure> {
    let pem = read_file("--key", path)?;
    let text = String::from_utf8_lossy(&pem);
    let shown = path.display().to_string();
    let pem = match key_kind(&text) {
        KeyKind::Plain => pem,
        KeyKind::LegacyEncrypted => {
            return Err(Failure::new(
                "tls_config",
                format!(
                    "the private key {shown} is a legacy encrypted PEM key (Proc-Type: 4,ENCRYPTED), \
                     which is not supported; convert it to encrypted PKCS#8 with `openssl pkcs8 \
                     -topk8 -v2 aes-256-cbc -in {shown} -out NEW.pem` (or decrypt it with \
                     `openssl pkey -in {shown} -out PLAIN.pem`)"
                ),
            ))
        }
        KeyKind::EncryptedPkcs8 => {
            let passphrase = match &args.passphrase {
                Some(Some(p)) => p.clone(),
                Some(None) => passphrase::ask(&format!("Passphrase for {shown}: "))?,
                None => {
                    return Err(Failure::new(
                        "tls_config",
                        format!(
                            "the private key {shown} is encrypted: give its passphrase with \
                             --passphrase (without a value to be asked for it)"
                        ),
                    ))
                }
            };
            decrypt_pkcs8(&text, &passphrase, &shown)?.into_bytes()
        }
    };
    wtls::private_key_from_pem(&pem)
        .map_err(|e| Failure::new("tls_config", format!("no usable private key in --key {shown}: {e}")))?;
    Ok(pem)
}

/// Reads `--pfx` and opens it with `--passphrase` (asked for on the terminal when given
/// without a value; the empty passphrase without the option), so that a wrong passphrase or a
/// damaged file is reported before connecting or listening. Returns the bundle and the
/// passphrase.
fn read_pfx(args: &Args, path: &Path) -> Result<(Vec<u8>, String), Failure> {
    let der = read_file("--pfx", path)?;
    let shown = path.display().to_string();
    let passphrase = match &args.passphrase {
        Some(Some(p)) => p.clone(),
        Some(None) => passphrase::ask(&format!("Passphrase for {shown}: "))?,
        None => String::new(),
    };
    if let Err(e) = wtls::identity_from_pkcs12(&der, &passphrase) {
        let reason = e.get_ref().and_then(|e| e.downcast_ref::<wtls::Pkcs12Error>());
        let message = match reason {
            Some(wtls::Pkcs12Error::WrongPassphrase) if args.passphrase.is_none() => format!(
                "the PKCS#12 bundle {shown} is protected by a passphrase: give it with --passphrase \
                 (without a value to be asked for it)"
            ),
            Some(wtls::Pkcs12Error::WrongPassphrase) => {
                format!("wrong passphrase for the PKCS#12 bundle {shown} (--passphrase)")
            }
            _ => format!("cannot use --pfx {shown}: {e}"),
        };
        return Err(Failure::new("tls_config", message));
    }
    Ok((der, passphrase))
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
    if let Some(pfx) = &args.pfx {
        let (der, passphrase) = read_pfx(args, pfx)?;
        options = options.client_auth_pkcs12(der, passphrase);
    }
    if args.no_check {
        options = options.danger_accept_invalid_certs(true);
    }
    Ok(options)
}

/// The server TLS config for `--listen` with `--cert` and `--key`, or `--pfx`, if given.
pub fn server_config(args: &Args) -> Result<Option<Arc<ServerConfig>>, Failure> {
    if let Some(pfx) = &args.pfx {
        let (der, passphrase) = read_pfx(args, pfx)?;
        return wtls::server_config_from_pkcs12(&der, &passphrase)
            .map(Some)
            .map_err(|e| Failure::new("tls_config", format!("cannot use --pfx as a server certificate: {e}")));
    }
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
    fn key_kinds() {
        assert_eq!(key_kind("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMII...\n"), KeyKind::EncryptedPkcs8);
        assert_eq!(
            key_kind("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: x\n"),
            KeyKind::LegacyEncrypted
        );
        assert_eq!(key_kind("-----BEGIN PRIVATE KEY-----\nMII...\n"), KeyKind::Plain);
    }

    #[test]
    fn the_block_is_found_among_other_text() {
        let pem = "Bag Attributes\n-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\ntrailing\n";
        assert_eq!(
            encrypted_block(pem),
            Some("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----")
        );
        assert_eq!(encrypted_block("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n"), None);
        let e = decrypt_pkcs8("-----BEGIN ENCRYPTED PRIVATE KEY-----\n", "x", "k.pem").unwrap_err();
        assert!(e.message.contains("no complete ENCRYPTED PRIVATE KEY block"), "{}", e.message);
    }
}
