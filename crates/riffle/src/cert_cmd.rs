//! `riffle cert`: a self-signed certificate and key for trying TLS locally,
//! valid for `localhost`, `127.0.0.1` and `::1`. Not for production: no CA
//! vouches for it, so every client must be told to trust this very file.

use anyhow::{bail, Context, Result};
use chrono::{Datelike, Duration, Utc};
use clap::Args;
use rcgen::{
    date_time_ymd, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose,
};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write a self-signed development certificate (cert.pem) and its key
/// (key.pem), valid for localhost, 127.0.0.1 and ::1.
///
/// Then serve TLS with them and point clients at the certificate:
///   riffle cert --out ./tls
///   riffle --tls-cert ./tls/cert.pem --tls-key ./tls/key.pem
///   AWS_CA_BUNDLE=./tls/cert.pem aws --endpoint-url https://localhost:4567 kinesis list-streams
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct CertArgs {
    /// Directory to write cert.pem and key.pem into (created if missing)
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Days the certificate stays valid
    #[arg(long, value_name = "N", default_value_t = 365)]
    pub days: u32,
    /// Replace an existing cert.pem or key.pem
    #[arg(long)]
    pub force: bool,
}

pub fn main(args: CertArgs) -> Result<()> {
    if args.days == 0 {
        bail!("--days must be at least 1");
    }
    let (cert_pem, key_pem) = generate(args.days)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let cert = args.out.join("cert.pem");
    let key = args.out.join("key.pem");
    if !args.force {
        for p in [&cert, &key] {
            if p.exists() {
                bail!(
                    "{} already exists: choose another --out directory, or pass --force to replace it",
                    p.display()
                );
            }
        }
    }
    write_file(&cert, cert_pem.as_bytes(), false)?;
    write_file(&key, key_pem.as_bytes(), true)?;
    let show = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (cert, key) = (show(&cert), show(&key));
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote a self-signed development certificate for localhost, 127.0.0.1 and ::1, valid {} days:",
        args.days
    )?;
    writeln!(out, "  certificate  {}", cert.display())?;
    writeln!(out, "  key          {} (keep it private)", key.display())?;
    writeln!(out, "serve TLS with it:")?;
    writeln!(
        out,
        "  riffle --tls-cert {} --tls-key {}",
        cert.display(),
        key.display()
    )?;
    writeln!(out, "and make clients trust it, e.g. the AWS CLI:")?;
    writeln!(
        out,
        "  AWS_CA_BUNDLE={} aws --endpoint-url https://localhost:4567 kinesis list-streams",
        cert.display()
    )?;
    writeln!(
        out,
        "(SDKs: add the certificate to the HTTP client's trusted roots; see docs/security-tls.md)"
    )?;
    Ok(())
}

/// A self-signed ECDSA P-256 certificate and its PKCS#8 key, both PEM.
pub fn generate(days: u32) -> Result<(String, String)> {
    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Riffle development certificate");
    params.distinguished_name = dn;
    // A leaf, not a CA: rustls refuses a CA certificate as a server's.
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    // From yesterday, so clocks a little behind still accept it.
    let day = |d: chrono::DateTime<Utc>| date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    let now = Utc::now();
    params.not_before = day(now - Duration::days(1));
    params.not_after = day(now + Duration::days(i64::from(days)));
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes `bytes` to `path`; a private file is readable by its owner only.
fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // --force over an existing file keeps its mode otherwise.
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
