//! The HTTP side of a scrape: one `reqwest` client per scrape config, one
//! GET per scrape with Prometheus's headers, a bounded body read.

use crate::config::{HttpSettings, Secret};
use crate::error::ScrapeError;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use std::time::Duration;

/// What Prometheus sends: OpenMetrics preferred, then text 0.0.4.
pub const ACCEPT_HEADER: &str =
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1";

/// Builds the client for one scrape config.
pub fn build_client(s: &HttpSettings) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("Sightline/", env!("CARGO_PKG_VERSION")))
        .gzip(s.compression)
        .redirect(if s.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        })
        .pool_max_idle_per_host(4);
    b = match &s.proxy_url {
        Some(p) => b.proxy(reqwest::Proxy::all(p).map_err(|e| format!("invalid proxy_url {p:?}: {e}"))?),
        None => b.no_proxy(),
    };
    if !s.enable_http2 {
        b = b.http1_only();
    }
    let tls = &s.tls;
    let mut ca_pem = Vec::new();
    if let Some(ca) = &tls.ca {
        ca_pem.extend_from_slice(ca.as_bytes());
        ca_pem.push(b'\n');
    }
    if let Some(ca) = &tls.ca_file {
        ca_pem.extend(std::fs::read(ca).map_err(|e| format!("reading ca_file {}: {e}", ca.display()))?);
    }
    let cert = pem_source(&tls.cert, &tls.cert_file, "cert_file")?;
    let key = pem_source(&tls.key, &tls.key_file, "key_file")?;
    let identity = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err("tls_config: a client certificate and key must be given together".into()),
    };
    let tls13_only = match tls.min_version.as_deref() {
        None | Some("") | Some("TLS10") | Some("TLS11") | Some("TLS12") => false,
        Some("TLS13") => true,
        Some(v) => return Err(format!("tls_config: unknown min_version {v:?}")),
    };
    let server_name = tls.server_name.as_deref().filter(|n| !n.is_empty());
    if let (Some(name), false) = (server_name, tls.insecure_skip_verify) {
        let cfg = fixed_name_tls(name, &ca_pem, identity, tls13_only, s.enable_http2)?;
        b = b.use_preconfigured_tls(cfg);
        return b.build().map_err(|e| format!("building HTTP client: {e}"));
    }
    if !ca_pem.is_empty() {
        let certs = reqwest::Certificate::from_pem_bundle(&ca_pem)
            .map_err(|e| format!("parsing CA certificates: {e}"))?;
        if certs.is_empty() {
            return Err("tls_config: the CA holds no certificate".into());
        }
        b = b.tls_built_in_root_certs(false);
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if let Some((mut pem, key)) = identity {
        pem.push(b'\n');
        pem.extend(key);
        let id = reqwest::Identity::from_pem(&pem).map_err(|e| format!("client certificate: {e}"))?;
        b = b.identity(id);
    }
    if tls.insecure_skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    if tls13_only {
        b = b.min_tls_version(reqwest::tls::Version::TLS_1_3);
    }
    b.build().map_err(|e| format!("building HTTP client: {e}"))
}

/// A rustls config verifying the server certificate against `name`
/// instead of the URL's host (`tls_config.server_name`). The CA (or the
/// built-in web PKI roots when none is given), client identity and minimum
/// version are applied here too, since reqwest's own settings do not apply
/// to a preconfigured TLS config.
fn fixed_name_tls(
    name: &str,
    ca_pem: &[u8],
    identity: Option<(Vec<u8>, Vec<u8>)>,
    tls13_only: bool,
    http2: bool,
) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if ca_pem.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    } else {
        for c in CertificateDer::pem_slice_iter(ca_pem) {
            let c = c.map_err(|e| format!("parsing CA certificates: {e}"))?;
            roots
                .add(c)
                .map_err(|e| format!("parsing CA certificates: {e}"))?;
        }
        if roots.is_empty() {
            return Err("tls_config: the CA holds no certificate".into());
        }
    }
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(roots.into(), provider.clone())
        .build()
        .map_err(|e| format!("TLS verifier: {e}"))?;
    let name = ServerName::try_from(name.to_string())
        .map_err(|_| format!("tls_config: invalid server_name {name:?}"))?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = if tls13_only {
        &[&rustls::version::TLS13]
    } else {
        rustls::ALL_VERSIONS
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS config: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(FixedNameVerifier { inner, name }));
    let mut cfg = match identity {
        Some((cert, key)) => {
            let certs = CertificateDer::pem_slice_iter(&cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("client certificate: {e}"))?;
            let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| format!("client key: {e}"))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("client certificate: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(cfg)
}

/// Web PKI verification against a fixed server name.
#[derive(Debug)]
struct FixedNameVerifier {
    inner: std::sync::Arc<rustls::client::WebPkiServerVerifier>,
    name: rustls::pki_types::ServerName<'static>,
}

impl rustls::client::danger::ServerCertVerifier for FixedNameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn pem_source(
    inline: &Option<String>,
    file: &Option<std::path::PathBuf>,
    what: &str,
) -> Result<Option<Vec<u8>>, String> {
    match (inline, file) {
        (Some(v), _) => Ok(Some(v.as_bytes().to_vec())),
        (None, Some(p)) => std::fs::read(p)
            .map(Some)
            .map_err(|e| format!("reading {what} {}: {e}", p.display())),
        (None, None) => Ok(None),
    }
}

/// Reads a secret (files are read on every call, trimmed as Prometheus does).
async fn secret(s: &Secret) -> Result<String, ScrapeError> {
    match s {
        Secret::Inline(v) => Ok(v.clone()),
        Secret::File(p) => tokio::fs::read_to_string(p)
            .await
            .map(|v| v.trim().to_string())
            .map_err(|e| ScrapeError::Credentials(format!("reading {}: {e}", p.display()))),
    }
}

/// A fetched body.
#[derive(Debug)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub content_type: String,
}

/// One scrape request. `body_limit` bounds the decompressed body (0 = none).
pub async fn fetch(
    client: &reqwest::Client,
    settings: &HttpSettings,
    url: &str,
    timeout: Duration,
    body_limit: u64,
) -> Result<Fetched, ScrapeError> {
    let mut req = client
        .get(url)
        .timeout(timeout)
        .header(ACCEPT, ACCEPT_HEADER)
        .header("X-Prometheus-Scrape-Timeout-Seconds", timeout_header(timeout));
    if let Some((user, pass)) = &settings.basic_auth {
        let user = secret(user).await?;
        let pass = match pass {
            Some(p) => Some(secret(p).await?),
            None => None,
        };
        req = req.basic_auth(user, pass);
    }
    if !settings.compression {
        req = req.header(reqwest::header::ACCEPT_ENCODING, "identity");
    } else if let Some((scheme, cred)) = &settings.authorization {
        let value = format!("{scheme} {}", secret(cred).await?);
        let hv = HeaderValue::from_str(&value)
            .map_err(|_| ScrapeError::Credentials("credentials contain invalid header characters".into()))?;
        req = req.header(AUTHORIZATION, hv);
    }
    let mut resp = req.send().await.map_err(|e| map_reqwest(e, url))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(ScrapeError::Status(format!(
            "server returned HTTP status {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )));
    }
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut body = Vec::with_capacity(resp.content_length().map_or(8192, |n| n.min(16 << 20) as usize));
    while let Some(chunk) = resp.chunk().await.map_err(|e| map_reqwest(e, url))? {
        if body_limit > 0 && (body.len() + chunk.len()) as u64 > body_limit {
            return Err(ScrapeError::BodySizeLimit(body_limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body, content_type })
}

/// Seconds as Go's `strconv.FormatFloat(s, 'f', -1, 64)` prints them.
fn timeout_header(t: Duration) -> String {
    let s = t.as_secs_f64();
    let mut out = format!("{s}");
    if out.contains('e') {
        out = format!("{s:.3}");
    }
    out
}

fn map_reqwest(e: reqwest::Error, url: &str) -> ScrapeError {
    if e.is_timeout() {
        return ScrapeError::Timeout(url.to_string());
    }
    // The innermost cause is the informative part ("connection refused").
    let mut msg = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    ScrapeError::Http(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_header_is_go_float() {
        assert_eq!(timeout_header(Duration::from_secs(10)), "10");
        assert_eq!(timeout_header(Duration::from_millis(1500)), "1.5");
    }

    #[test]
    fn bad_tls_settings_are_reported() {
        let mut s = HttpSettings::default();
        s.tls.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(build_client(&s).unwrap_err().contains("ca_file"));
        let mut s = HttpSettings::default();
        s.tls.ca = Some("not a pem".into());
        assert!(build_client(&s).is_err());
        let mut s = HttpSettings::default();
        s.tls.min_version = Some("TLS9".into());
        assert!(build_client(&s).unwrap_err().contains("min_version"));
        let mut s = HttpSettings::default();
        s.tls.cert = Some("x".into());
        assert!(build_client(&s).unwrap_err().contains("together"));
        assert!(build_client(&HttpSettings::default()).is_ok());
    }
}
