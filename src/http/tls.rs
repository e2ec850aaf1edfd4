//! HTTPS for the admin API: the rustls server configuration from the admin's certificate, or
//! from a self-signed one generated at first start into `<data_dir>/tls/` and reused after.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The certificate could not be generated or used.
    #[error("TLS: {0}")]
    Config(String),
}

/// Where the generated certificate and key live.
pub fn generated_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// The certificate and key to serve: `cert`/`key` when given, else the generated pair
/// (created now when missing, for `localhost`, the loopback addresses and `addr`'s IP).
pub fn cert_and_key(
    cert: Option<&Path>,
    key: Option<&Path>,
    data_dir: &Path,
    addr: SocketAddr,
) -> Result<(PathBuf, PathBuf), TlsError> {
    if let (Some(c), Some(k)) = (cert, key) {
        return Ok((c.to_path_buf(), k.to_path_buf()));
    }
    let (c, k) = generated_paths(data_dir);
    if c.exists() && k.exists() {
        return Ok((c, k));
    }
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
    if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
        names.push(addr.ip().to_string());
    }
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|e| TlsError::Config(format!("generating a certificate: {e}")))?;
    let dir = c.parent().unwrap_or(data_dir);
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    write_private(&k, generated.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(&c, generated.cert.pem()).map_err(|e| file_error(&c, e))?;
    tracing::warn!(
        cert = %c.display(),
        "HTTPS: generated a self-signed certificate (browsers will warn; give your own with [http] cert/key)"
    );
    Ok((c, k))
}

/// Writes `bytes` readable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| file_error(path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| file_error(path, e))
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The rustls server configuration (ring provider, TLS 1.2 and 1.3, HTTP/1.1).
pub fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert, e))?;
    if chain.is_empty() {
        return Err(file_error(cert, "no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
    // ring, not aws-lc-rs: no C/CMake build of aws-lc; rustls 0.23.48 deprecates it only for
    // lacking post-quantum key exchange, which an admin panel on a LAN can do without.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_is_reused_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        let (c, k) = cert_and_key(None, None, dir.path(), addr).unwrap();
        let first = std::fs::read(&c).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&k).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");
        }
        server_config(&c, &k).unwrap();
        let (c2, _) = cert_and_key(None, None, dir.path(), addr).unwrap();
        assert_eq!(std::fs::read(c2).unwrap(), first, "regenerated");
        std::fs::write(&c, "garbage").unwrap();
        let e = server_config(&c, &k).unwrap_err().to_string();
        assert!(e.contains("cert.pem"), "{e}");
    }
}
