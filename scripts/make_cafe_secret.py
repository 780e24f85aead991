"""Make manifests/cafe-secret.yaml and manifests/cafe.crt: a self-signed certificate for cafe.example.com.

Run once; the files are committed so every learner sees the same certificate. Self-signed on purpose: plain
`curl https://cafe.example.com…` refuses it (hence the article's `--insecure`), while
`curl --cacert manifests/cafe.crt …` verifies it, because a self-signed certificate is its own authority.
"""
from __future__ import annotations

import base64
import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

HERE = Path(__file__).resolve().parent.parent / "ingresslab" / "manifests"


def main() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cafe.example.com"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ingresslab (self-signed, for teaching)")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=365 * 50))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("cafe.example.com")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    crt = cert.public_bytes(serialization.Encoding.PEM)
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    (HERE / "cafe.crt").write_bytes(crt)
    b64 = lambda data: base64.b64encode(data).decode()
    (HERE / "cafe-secret.yaml").write_text(
        "# The cafe example's TLS certificate and key, self-signed for cafe.example.com\n"
        "# (made by scripts/make_cafe_secret.py; the certificate alone is in cafe.crt).\n"
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cafe-secret\ntype: kubernetes.io/tls\ndata:\n"
        f"  tls.crt: {b64(crt)}\n  tls.key: {b64(pem_key)}\n")


if __name__ == "__main__":
    main()
