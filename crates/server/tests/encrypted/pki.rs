//! A private PKI made at test time with the `openssl` command: a root CA, an intermediate CA
//! under it, and server certificates for `localhost` and 127.0.0.1 under the intermediate,
//! written as the chain file the server sends whole (leaf, then intermediate). A client that
//! trusts only the root can succeed only when the intermediate is sent.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files of one PKI.
pub struct Pki {
    /// The root certificate, the only one clients trust.
    pub root: PathBuf,
    dir: PathBuf,
}

/// A server certificate chain and its key.
pub struct Leaf {
    /// Leaf then intermediate, PEM.
    pub chain: PathBuf,
    /// The key (SEC1 for EC leaves, PKCS#1 for RSA ones: both formats are read).
    pub key: PathBuf,
    /// The leaf certificate alone, DER (to recognise it in a handshake).
    pub der: Vec<u8>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().unwrap_or_else(|e| panic!("openssl (needed to make test certificates): {e}"));
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

impl Pki {
    /// Makes the root and the intermediate (keys PKCS#8) in `dir`.
    pub fn new(dir: &Path) -> Self {
        std::fs::write(dir.join("ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n").unwrap();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(dir, &[&["req", "-x509"][..], &ec, &["-keyout", "root.key", "-out", "root.pem", "-days", "2", "-subj", "/CN=portcullis test root"]].concat());
        openssl(dir, &[&["req"][..], &ec, &["-keyout", "inter.key", "-out", "inter.csr", "-subj", "/CN=portcullis test intermediate"]].concat());
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "inter.csr",
                "-CA",
                "root.pem",
                "-CAkey",
                "root.key",
                "-CAcreateserial",
                "-out",
                "inter.pem",
                "-days",
                "2",
                "-extfile",
                "ca.ext",
            ],
        );
        Self { root: dir.join("root.pem"), dir: dir.to_path_buf() }
    }

    /// A leaf for `localhost` and 127.0.0.1 signed by the intermediate, named `name`; `rsa`
    /// for an RSA key in PKCS#1 form, else P-256 in SEC1 form.
    pub fn leaf(&self, name: &str, rsa: bool) -> Leaf {
        let dir = &self.dir;
        let ext = format!("{name}.ext");
        std::fs::write(dir.join(&ext), "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
        let key = format!("{name}.key");
        if rsa {
            openssl(dir, &["genrsa", "-traditional", "-out", &key, "2048"]);
        } else {
            openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &key]);
        }
        let (csr, pem, der) = (format!("{name}.csr"), format!("{name}.pem"), format!("{name}.der"));
        openssl(dir, &["req", "-new", "-key", &key, "-out", &csr, "-subj", "/CN=localhost"]);
        openssl(
            dir,
            &["x509", "-req", "-in", &csr, "-CA", "inter.pem", "-CAkey", "inter.key", "-CAcreateserial", "-out", &pem, "-days", "2", "-extfile", &ext],
        );
        openssl(dir, &["x509", "-in", &pem, "-outform", "DER", "-out", &der]);
        let chain = dir.join(format!("{name}-chain.pem"));
        let text = std::fs::read_to_string(dir.join(&pem)).unwrap() + &std::fs::read_to_string(dir.join("inter.pem")).unwrap();
        std::fs::write(&chain, text).unwrap();
        Leaf { chain, key: dir.join(key), der: std::fs::read(dir.join(der)).unwrap() }
    }
}
