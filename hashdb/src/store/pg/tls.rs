//! TLS to the PostgreSQL server, with libpq's options and meanings, so a
//! URL that works with `psql` works here:
//!
//! * `sslmode`: `disable` (never), `prefer` (the default: TLS when the
//!   server offers it), `require` (TLS or fail), `verify-ca` (TLS, and the
//!   server's chain must lead to `sslrootcert`), `verify-full` (that, and
//!   the certificate must name the host). As in libpq, `prefer` and
//!   `require` with a `sslrootcert` check the chain as `verify-ca` does.
//! * `sslrootcert=PATH` (PEM, one or more CAs), or `sslrootcert=system`:
//!   the public CAs (webpki-roots, the same set as the app's URL fetches),
//!   which libpq 16 allows with `verify-full` only (the default mode then).
//!   `verify-full` without a `sslrootcert` uses the public CAs too;
//!   `verify-ca` without one is refused (see [`TlsError::ChainOnlyWithoutRoot`]).
//! * `sslcert`/`sslkey`: a client certificate (PEM, unencrypted key).
//! * `sslsni=0|1`: whether the host name is sent (SNI; on by default).
//!
//! Each may also come from libpq's variables (`PGSSLMODE`,
//! `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`), as the password may come
//! from `$PGPASSWORD`; the URL wins. Unlike libpq, the files under
//! `~/.postgresql/` are never read unasked: a mode that needs a root says
//! so instead of depending on a file the user may not know is there.
//!
//! The driver refuses options it does not know (and knows only three
//! modes), so these are taken out of the URL ([`split`]) and the rest
//! handed to `postgres::Config`.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` (without `allow`, see [`TlsError::Unsupported`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode, TlsError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => {
                return Err(TlsError::Unsupported {
                    option: "sslmode=allow",
                    why: "use sslmode=prefer (TLS when the server offers it) or disable",
                })
            }
            other => return Err(TlsError::BadMode(other.to_string())),
        })
    }

    /// What the driver does: whether to ask for TLS and whether it must.
    pub(crate) fn driver(self) -> postgres::config::SslMode {
        match self {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                postgres::config::SslMode::Require
            }
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

/// Which CAs vouch for the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// The public CAs (`sslrootcert=system`, or `verify-full` without one).
    System,
    /// A PEM file of CAs.
    File(PathBuf),
}

/// The TLS settings of one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    pub root_cert: Option<RootCert>,
    /// Client certificate chain and key (PEM), both or neither.
    pub client: Option<(PathBuf, PathBuf)>,
    pub sni: bool,
}

/// The TLS options of a URL are unusable, or their files are.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("sslmode={0:?} is not one of disable, prefer, require, verify-ca, verify-full")]
    BadMode(String),
    #[error("{option} is not supported: {why}")]
    Unsupported {
        option: &'static str,
        why: &'static str,
    },
    #[error("invalid {option}={value:?}: {why}")]
    BadValue {
        option: &'static str,
        value: String,
        why: &'static str,
    },
    /// libpq's rule: the public CAs vouch for host names, so with any
    /// mode that does not check the name they would accept a certificate
    /// any public CA issued to anyone.
    #[error("sslrootcert=system needs sslmode=verify-full (got sslmode={0}): the public CAs vouch for host names, so without the name check any certificate they issued to anyone would pass")]
    SystemNeedsVerifyFull(SslMode),
    /// `verify-ca` checks the chain only: against the public CAs that
    /// would accept any publicly issued certificate (libpq refuses it too,
    /// having no root file).
    #[error("sslmode=verify-ca needs sslrootcert=PATH, the CA file the server's certificate must chain to (or use sslmode=verify-full, which checks the host name and may use the public CAs)")]
    ChainOnlyWithoutRoot,
    #[error("sslcert and sslkey go together (only {0} was given)")]
    HalfClientCert(&'static str),
    #[error("{option}={}: {message}", path.display())]
    File {
        option: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("setting up TLS: {0}")]
    Setup(String),
    /// The server's certificate was refused, or the handshake failed.
    /// (`cause` is in the message, not a `source`: error chains are
    /// printed whole, and would say it twice.)
    #[error("TLS handshake with the server failed: {cause}{hint}")]
    Handshake {
        cause: rustls::Error,
        /// What to check, led by `; ` (empty when there is nothing to add).
        hint: String,
    },
}

/// The options this module takes out of the URL.
const OURS: [&str; 5] = ["sslmode", "sslrootcert", "sslcert", "sslkey", "sslsni"];

/// Options libpq has that we do not honour: refused with a reason rather
/// than the driver's bare "unknown option".
const NOT_SUPPORTED: [(&str, &str); 7] = [
    (
        "sslpassword",
        "the sslkey file must be an unencrypted PEM key",
    ),
    ("sslcrl", "certificate revocation lists are not checked"),
    ("sslcrldir", "certificate revocation lists are not checked"),
    (
        "sslcertmode",
        "a client certificate is sent whenever sslcert/sslkey are given",
    ),
    (
        "ssl_min_protocol_version",
        "TLS 1.2 and 1.3 are spoken (rustls), nothing older",
    ),
    (
        "ssl_max_protocol_version",
        "TLS 1.2 and 1.3 are spoken (rustls), nothing older",
    ),
    ("gssencmode", "GSSAPI encryption is not available; use TLS"),
];

/// The byte offset where `url`'s query starts (after its `?`), found as
/// the driver finds it: the user information ends at the first `@`, the
/// host and path at the first `?` after it.
fn query_start(url: &str) -> Option<usize> {
    let after_scheme = url.find("://")? + 3;
    let from = url[after_scheme..]
        .find('@')
        .map_or(after_scheme, |at| after_scheme + at + 1);
    url[from..].find('?').map(|q| from + q + 1)
}

fn decode(s: &str) -> Result<Cow<'_, str>, TlsError> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map_err(|_| TlsError::BadValue {
            option: "URL",
            value: s.to_string(),
            why: "percent-encoded bytes that are not UTF-8",
        })
}

/// `url` without the options this module reads, keeping every other
/// option as written (for the driver, and for naming the database:
/// the same server asked for with another `sslmode` is the same one).
pub fn strip(url: &str) -> String {
    match split_query(url) {
        Ok((rest, _)) => rest,
        Err(_) => url.to_string(),
    }
}

/// The URL without our options, and our options (decoded, last one wins).
/// Our options as found in a URL: (name, decoded value), in order.
type Options = Vec<(&'static str, String)>;

fn split_query(url: &str) -> Result<(String, Options), TlsError> {
    let Some(q) = query_start(url) else {
        return Ok((url.to_string(), Vec::new()));
    };
    let mut kept = Vec::new();
    let mut ours = Vec::new();
    for kv in url[q..].split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let key = decode(k)?;
        if let Some(name) = OURS.iter().find(|o| **o == key) {
            ours.push((*name, decode(v)?.into_owned()));
        } else if let Some((option, why)) = NOT_SUPPORTED.iter().find(|(o, _)| *o == key) {
            return Err(TlsError::Unsupported { option, why });
        } else {
            kept.push(kv);
        }
    }
    let base = &url[..q - 1];
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, ours))
}

/// Split `url` into what the driver reads and the TLS settings, with
/// libpq's environment variables for options the URL does not give.
pub fn split(url: &str) -> Result<(String, TlsSettings), TlsError> {
    split_with_env(url, |name| {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    })
}

fn split_with_env(
    url: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(String, TlsSettings), TlsError> {
    let (rest, ours) = split_query(url)?;
    let get = |name: &str, var: &str| {
        ours.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| env(var))
            .filter(|v| !v.is_empty())
    };
    let root_cert = get("sslrootcert", "PGSSLROOTCERT").map(|v| match v.as_str() {
        "system" => RootCert::System,
        _ => RootCert::File(PathBuf::from(v)),
    });
    let mode = match get("sslmode", "PGSSLMODE") {
        Some(m) => SslMode::parse(&m)?,
        // libpq 16: the public CAs make verify-full the default.
        None if root_cert == Some(RootCert::System) => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    if root_cert == Some(RootCert::System)
        && mode != SslMode::VerifyFull
        && mode != SslMode::Disable
    {
        return Err(TlsError::SystemNeedsVerifyFull(mode));
    }
    if mode == SslMode::VerifyCa && root_cert.is_none() {
        return Err(TlsError::ChainOnlyWithoutRoot);
    }
    let client = match (get("sslcert", "PGSSLCERT"), get("sslkey", "PGSSLKEY")) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (None, None) => None,
        (Some(_), None) => return Err(TlsError::HalfClientCert("sslcert")),
        (None, Some(_)) => return Err(TlsError::HalfClientCert("sslkey")),
    };
    let sni = match get("sslsni", "PGSSLSNI").as_deref() {
        None | Some("1") => true,
        Some("0") => false,
        Some(v) => {
            return Err(TlsError::BadValue {
                option: "sslsni",
                value: v.to_string(),
                why: "0 or 1",
            })
        }
    };
    Ok((
        rest,
        TlsSettings {
            mode,
            root_cert,
            client,
            sni,
        },
    ))
}

/// The TLS handshake error inside a failed connection, explained for the
/// settings used, or `None` when the connection failed otherwise.
pub(crate) fn handshake_error(e: &postgres::Error, s: &TlsSettings) -> Option<TlsError> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let cause = loop {
        let err = next?;
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            break r.clone();
        }
        // tokio-rustls hands rustls' error over inside an io::Error,
        // whose `source` skips it.
        if let Some(r) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            break r.clone();
        }
        next = err.source();
    };
    let roots = match &s.root_cert {
        Some(RootCert::File(p)) => format!("sslrootcert={}", p.display()),
        Some(RootCert::System) | None => {
            "the public CAs (give your server's CA as sslrootcert=PATH; managed \
             databases publish theirs)"
                .to_string()
        }
    };
    let hint = match &cause {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            format!("; the server's certificate does not chain to a CA in {roots}")
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "; the server's certificate is not for the host in the URL: connect by a name it \
              holds (sslmode=verify-full checks it; verify-ca checks the CA only)"
            .to_string(),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "; the server's certificate has expired".to_string(),
        _ => String::new(),
    };
    Some(TlsError::Handshake { cause, hint })
}

fn file_error(option: &'static str, path: &Path, message: impl fmt::Display) -> TlsError {
    TlsError::File {
        option,
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let certs =
        CertificateDer::pem_file_iter(path).map_err(|e| file_error("sslrootcert", path, e))?;
    for cert in certs {
        let cert = cert.map_err(|e| file_error("sslrootcert", path, e))?;
        roots
            .add(cert)
            .map_err(|e| file_error("sslrootcert", path, e))?;
    }
    if roots.is_empty() {
        return Err(file_error(
            "sslrootcert",
            path,
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
        ));
    }
    Ok(roots)
}

fn read_client(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error("sslcert", cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error("sslcert", cert, e))?;
    if chain.is_empty() {
        return Err(file_error(
            "sslcert",
            cert,
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => file_error(
            "sslkey",
            key,
            "no unencrypted PEM private key in it (encrypted keys are not supported)",
        ),
        e => file_error("sslkey", key, e),
    })?;
    Ok((chain, key))
}

/// The connector for `s`: certificate checks as the mode asks, ALPN
/// `postgresql` (which PostgreSQL 17's direct TLS requires, and older
/// servers ignore).
pub fn connector(s: &TlsSettings) -> Result<MakeRustlsConnect, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match (&s.root_cert, s.mode) {
        // Nothing is verified, nothing is read: libpq reads no files then.
        (_, SslMode::Disable) => None,
        (Some(RootCert::File(p)), _) => Some(Arc::new(read_roots(p)?)),
        (Some(RootCert::System), _) | (None, SslMode::VerifyFull) => {
            Some(Arc::new(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }))
        }
        (None, _) => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match roots {
        None => Arc::new(Unverified(provider.clone())),
        Some(roots) => {
            let full = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| TlsError::Setup(e.to_string()))?;
            if s.mode == SslMode::VerifyFull {
                full
            } else {
                Arc::new(ChainOnly(full))
            }
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&s.client, s.mode) {
        (Some((cert, key)), m) if m != SslMode::Disable => {
            let (chain, key) = read_client(cert, key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Setup(format!("client certificate: {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    config.enable_sni = s.sni;
    Ok(MakeRustlsConnect::new(config))
}

/// `verify-ca` (and `prefer`/`require` with a root file): the chain must
/// lead to a root; the name in the certificate is not looked at. rustls
/// checks the chain before the name, so a name error means the chain
/// passed.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a root: encryption against a passive
/// listener only, as in libpq; the certificate is not checked (the
/// handshake's own signatures still are).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_env(url: &str, env: &[(&str, &str)]) -> Result<(String, TlsSettings), TlsError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        split_with_env(url, move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn options_are_taken_out_and_the_rest_kept() {
        let (rest, s) = split_env(
            "postgresql://u:p%3F@h:5/db?connect_timeout=3&sslmode=verify-full&sslrootcert=%2Fca%20dir%2Fca.pem&application_name=x",
            &[],
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgresql://u:p%3F@h:5/db?connect_timeout=3&application_name=x"
        );
        assert_eq!(s.mode, SslMode::VerifyFull);
        assert_eq!(s.root_cert, Some(RootCert::File("/ca dir/ca.pem".into())));
        assert_eq!(s.client, None);
        assert!(s.sni);
        // Only our options: no `?` left behind.
        let (rest, s) = split_env("postgres://h/db?sslmode=require", &[]).unwrap();
        assert_eq!(
            (rest.as_str(), s.mode),
            ("postgres://h/db", SslMode::Require)
        );
        // A `?` in the password is not the query (the driver reads it so).
        let (rest, s) = split_env("postgresql://u:a?b@h/db", &[]).unwrap();
        assert_eq!(
            (rest.as_str(), s.mode),
            ("postgresql://u:a?b@h/db", SslMode::Prefer)
        );
        assert_eq!(
            strip("postgresql://h/db?sslmode=disable&x=1"),
            "postgresql://h/db?x=1"
        );
    }

    #[test]
    fn libpq_defaults_and_rules() {
        let mode = |url: &str| split_env(url, &[]).map(|(_, s)| s.mode);
        assert_eq!(mode("postgresql://h/db").unwrap(), SslMode::Prefer);
        assert_eq!(
            mode("postgresql://h/db?sslrootcert=system").unwrap(),
            SslMode::VerifyFull
        );
        for (url, want) in [
            (
                "postgresql://h/db?sslmode=require&sslrootcert=system",
                "needs sslmode=verify-full",
            ),
            (
                "postgresql://h/db?sslmode=verify-ca",
                "needs sslrootcert=PATH",
            ),
            (
                "postgresql://h/db?sslmode=allow",
                "sslmode=allow is not supported",
            ),
            (
                "postgresql://h/db?sslmode=verify_full",
                "not one of disable",
            ),
            ("postgresql://h/db?sslcert=/c.pem", "only sslcert was given"),
            ("postgresql://h/db?sslkey=/k.pem", "only sslkey was given"),
            ("postgresql://h/db?sslpassword=x", "unencrypted PEM key"),
            (
                "postgresql://h/db?ssl_min_protocol_version=TLSv1.3",
                "ssl_min_protocol_version is not supported",
            ),
            ("postgresql://h/db?sslsni=yes", "invalid sslsni"),
        ] {
            let e = mode(url).expect_err(url).to_string();
            assert!(e.contains(want), "{url}: {e}");
        }
        // The last value wins, as in libpq.
        assert_eq!(
            mode("postgresql://h/db?sslmode=require&sslmode=disable").unwrap(),
            SslMode::Disable
        );
    }

    #[test]
    fn environment_fills_in_and_the_url_wins() {
        let env = [
            ("PGSSLMODE", "verify-full"),
            ("PGSSLROOTCERT", "/env/ca.pem"),
        ];
        let (_, s) = split_env("postgresql://h/db", &env).unwrap();
        assert_eq!(s.mode, SslMode::VerifyFull);
        assert_eq!(s.root_cert, Some(RootCert::File("/env/ca.pem".into())));
        let (_, s) = split_env("postgresql://h/db?sslmode=disable", &env).unwrap();
        assert_eq!(s.mode, SslMode::Disable);
    }

    #[test]
    fn file_problems_name_the_option_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let settings = |root: &Path| TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: Some(RootCert::File(root.to_path_buf())),
            client: None,
            sni: true,
        };
        let e = connector(&settings(&not_pem)).err().unwrap().to_string();
        assert!(
            e.contains("sslrootcert=") && e.contains("no PEM certificate"),
            "{e}"
        );
        let missing = dir.path().join("nope.pem");
        let e = connector(&settings(&missing)).err().unwrap().to_string();
        assert!(e.contains("nope.pem"), "{e}");
        // disable reads no files (as libpq).
        let mut off = settings(&missing);
        off.mode = SslMode::Disable;
        assert!(connector(&off).is_ok());
    }
}
