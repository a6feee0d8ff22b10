//! The remote-write client's TLS: what it trusts, a certificate the user pinned, the client
//! certificate, and a certificate failure told as the configuration problem it is.
//!
//! Trusted, all together: the public roots sparkprom bundles (webpki-roots, Mozilla's list), the
//! OS store (the distribution's CA bundle, or `SSL_CERT_FILE` / `SSL_CERT_DIR`), the JVM's default
//! trust (the certificates its default TrustManagerFactory accepts, which the Java side hands
//! over: `-Djavax.net.ssl.trustStore`, a cacerts a platform added its CA to), and `tls.caFile`.
//! A certificate in `tls.caFile` is also pinned: a receiver presenting exactly that certificate
//! is accepted even when it is a CA certificate used as the server's own (what `openssl req
//! -x509` makes by default, which certificate path rules refuse), as curl accepts it.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{ConfigError, TlsConfig};

/// The TLS settings of the remote-write client; `jvm_trust` is the JVM's trusted certificates
/// as PEM (none outside a JVM).
pub fn client_config(
    tls: &TlsConfig,
    jvm_trust: Option<&str>,
) -> Result<rustls::ClientConfig, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let (os_added, _) = roots.add_parsable_certificates(os_store().iter().cloned());
    let jvm_added = jvm_trust.map_or(0, |pem| {
        let certificates = CertificateDer::pem_slice_iter(pem.as_bytes()).flatten();
        roots.add_parsable_certificates(certificates).0
    });
    let mut pinned = Vec::new();
    if let Some(path) = &tls.ca_file {
        let pem = read("tls.caFile", path)?;
        pinned = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                ConfigError::new(
                    "tls.caFile",
                    format!("'{path}' is not PEM certificates: {e}"),
                )
            })?;
        if pinned.is_empty() {
            return Err(ConfigError::new(
                "tls.caFile",
                format!("'{path}' holds no PEM certificates"),
            ));
        }
        let (_, unusable) = roots.add_parsable_certificates(pinned.iter().cloned());
        if unusable > 0 {
            return Err(ConfigError::new(
                "tls.caFile",
                format!("'{path}' holds {unusable} certificate(s) that cannot be parsed"),
            ));
        }
    }
    tracing::debug!(
        "TLS trusts {} certificates: the bundled public roots, {os_added} of the OS store, \
         {jvm_added} of the JVM's trust, {} of tls.caFile",
        roots.len(),
        pinned.len()
    );
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| ConfigError::new("tls.caFile", format!("cannot use these roots: {e}")))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::new("url", format!("TLS cannot be set up: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinningVerifier { inner, pinned }));
    match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(&read("tls.certFile", cert)?)
                .collect::<Result<Vec<_>, _>>()
                .ok()
                .filter(|chain| !chain.is_empty());
            // The error is not shown: it could quote the key.
            let private_key = PrivateKeyDer::from_pem_slice(&read("tls.keyFile", key)?).ok();
            let not_a_pair = || {
                ConfigError::new(
                    "tls.certFile",
                    format!(
                        "'{cert}' and the key in tls.keyFile are not a PEM certificate and private key"
                    ),
                )
            };
            let (Some(chain), Some(private_key)) = (chain, private_key) else {
                return Err(not_a_pair());
            };
            builder
                .with_client_auth_cert(chain, private_key)
                .map_err(|_| not_a_pair())
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// The OS store's certificates, read once per JVM (10-50 ms: every sink of the JVM shares them).
/// Unreadable entries are skipped: the rest, and the other sources, still count.
fn os_store() -> &'static [CertificateDer<'static>] {
    static STORE: std::sync::OnceLock<Vec<CertificateDer<'static>>> = std::sync::OnceLock::new();
    STORE.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// At most threads::FILE_READ_TIMEOUT: a file on a hung mount fails the start, naming it.
fn read(property: &str, path: &str) -> Result<Vec<u8>, ConfigError> {
    crate::threads::read_within(std::path::Path::new(path))
        .map_err(|e| ConfigError::new(property, format!("cannot read '{path}': {e}")))
}

/// The usual verification, and a pinned certificate accepted as itself.
#[derive(Debug)]
struct PinningVerifier {
    inner: Arc<WebPkiServerVerifier>,
    /// The certificates of `tls.caFile`, as DER.
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refused = match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(refused) => refused,
        };
        if self
            .pinned
            .iter()
            .any(|pin| pin.as_ref() == end_entity.as_ref())
        {
            // The pin's own verdict: its refusal says what is wrong with it.
            return check_pinned(end_entity, server_name, now)
                .map(|()| ServerCertVerified::assertion());
        }
        Err(refused)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A pinned certificate, taken as its own trust anchor: within its validity period and issued
/// for the host name. Path rules checked after those (a CA certificate as the server's own, an
/// extended key usage other than server authentication) do not apply to a pin; the handshake's
/// signature still proves the server holds its key.
fn check_pinned(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    use rustls::CertificateError;
    let refuse = |problem: CertificateError| rustls::Error::InvalidCertificate(problem);
    let certificate = webpki::EndEntityCert::try_from(end_entity)
        .map_err(|_| refuse(CertificateError::BadEncoding))?;
    let anchor = webpki::anchor_from_trusted_cert(end_entity)
        .map_err(|_| refuse(CertificateError::BadEncoding))?;
    // Validity is the first check made of the certificate itself: a later refusal means it passed.
    match certificate.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &[],
        now,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    ) {
        Err(webpki::Error::CertExpired { .. }) | Err(webpki::Error::InvalidCertValidity) => {
            return Err(refuse(CertificateError::Expired))
        }
        Err(webpki::Error::CertNotValidYet { .. }) => {
            return Err(refuse(CertificateError::NotValidYet))
        }
        Err(webpki::Error::BadDer) | Err(webpki::Error::BadDerTime) => {
            return Err(refuse(CertificateError::BadEncoding))
        }
        _ => {}
    }
    certificate
        .verify_is_valid_for_subject_name(server_name)
        .map_err(|_| refuse(CertificateError::NotValidForName))
}

/// The certificate error behind a failed request, if that is what failed it: the TLS library's
/// error sits inside the connection's I/O errors (nested: `source()` skips an I/O error's own
/// payload, `get_ref()` reaches it).
pub fn certificate_error<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e rustls::Error> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        let mut inner: &(dyn std::error::Error + 'static) = e;
        while let Some(payload) = inner
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            inner = payload;
        }
        if let Some(tls @ rustls::Error::InvalidCertificate(_)) = inner.downcast_ref() {
            return Some(tls);
        }
        cause = e.source();
    }
    None
}

/// Whether a certificate error is a CA certificate presented as the server's own.
pub fn is_ca_used_as_end_entity(error: &rustls::Error) -> bool {
    match error {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}
