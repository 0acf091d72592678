"""PAdES signatures on every statement the ledger issues, and their validation.

A statement already leads back to the books through its verification code, but only for someone
who can reach this application. The signature lets anyone check it with an ordinary PDF reader
(Adobe Reader, Foxit, WPS show the signer and whether the file changed since) or with pyHanko's
`pyhanko sign validate --trust ROOT.pem FILE.pdf`, trusting only the institution's root certificate.

The signature is PAdES baseline B-B (SubFilter ETSI.CAdES.detached, SHA-256), added as an
incremental update over the whole statement, verification-code comment included, so the
signed bytes are exactly what was issued and any byte changed or added afterwards shows.

Nothing here imports Django at module level: config/settings.py calls dev_credentials_ensure and
credentials_check while it is still being read.
"""

import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

DEV_ORGANISATION = "城乡居民大病保险资金核算账本（开发）"
FIELD_NAME = "LedgerSignature"
# What the signature panel shows as the signer's purpose; the code ties it to the ledger's record.
REASON = "城乡居民大病保险资金核算账本出具的报表"


# -- credentials -------------------------------------------------------------------------------

def dev_credentials_ensure(folder: Path) -> dict:
    """A self-signed development root and a signing certificate issued by it, made once into
    `folder` (git-ignored) and reused after; paths as the REPORT_SIGNING_* settings take them.

    Written into a scratch folder renamed into place, so two processes starting together
    (a web server and a worker on a fresh checkout) never mix one's key with the other's certificate.
    """
    folder = Path(folder)
    files = {"key": folder / "signer-key.pem", "cert": folder / "signer.pem", "root": folder / "root.pem"}
    if not all(p.exists() for p in files.values()):
        scratch = Path(tempfile.mkdtemp(prefix=f"{folder.name}-", dir=folder.parent))
        try:
            _dev_credentials_write(scratch)
            if folder.exists():  # incomplete (an interrupted older run): made anew
                shutil.rmtree(folder)
            os.rename(scratch, folder)
        except OSError:
            if not all(p.exists() for p in files.values()):
                raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)  # the other process's rename won; ours is discarded
    return {"key": files["key"], "cert": files["cert"], "password": "", "chain": [files["root"]],
            "trust_roots": [files["root"]]}


def _dev_credentials_write(folder: Path) -> None:
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:  # each attribute at most 64 bytes of UTF-8: 21 Chinese characters
        return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEV_ORGANISATION),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    # RSA rather than ECDSA: every PDF reader auditors use verifies RSA signatures.
    root_key, key = (rsa.generate_private_key(public_exponent=65537, key_size=3072) for _ in range(2))
    now = datetime.now(UTC) - timedelta(minutes=5)  # a clock a little behind still accepts it
    root_name = name("开发用根证书（仅供开发测试）")
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + timedelta(days=20 * 365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(name("大病保险核算账本报表签章（开发）"))
            .issuer_name(root_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + timedelta(days=10 * 365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            # Non-repudiation (content commitment) is what validators expect of a document signer.
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    # The root's key is not kept: nothing else is ever issued under the development root.
    key_path = folder / "signer-key.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    (folder / "signer.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))


def _is_pkcs12(path) -> bool:
    return Path(path).suffix.lower() in (".p12", ".pfx")


def credentials_check(*, key, cert, password: str) -> None:
    """Refuse a configuration that could sign nothing: an unreadable key or certificate, a wrong
    password, or a certificate that is not the key's. Run at start-up, as SECRET_KEY is checked."""
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_der_private_key,
        load_pem_private_key,
        pkcs12,
    )

    secret = password.encode() if password else None
    for label, path in (("REPORT_SIGNING_KEY", key), ("REPORT_SIGNING_CERT", cert)):
        if path is not None and not Path(path).is_file():
            raise RuntimeError(f"{label}: no such file {path}")
    raw = Path(key).read_bytes()
    try:
        if _is_pkcs12(key):
            private, certificate, _ = pkcs12.load_key_and_certificates(raw, secret)
            if cert is not None:
                certificate = _load_x509(Path(cert).read_bytes())
        else:
            private = (load_pem_private_key if b"-----BEGIN" in raw else load_der_private_key)(raw, secret)
            if cert is None:
                raise RuntimeError("REPORT_SIGNING_CERT must name the signing certificate (PEM or DER) "
                                   "unless REPORT_SIGNING_KEY is a PKCS#12 file (.p12, .pfx)")
            certificate = _load_x509(Path(cert).read_bytes())
    except (ValueError, TypeError) as exc:
        raise RuntimeError(f"REPORT_SIGNING_KEY {key} cannot be read (wrong REPORT_SIGNING_PASSWORD?): {exc}") from exc
    if private is None or certificate is None:
        raise RuntimeError(f"REPORT_SIGNING_KEY {key} holds no key and certificate")
    def spki(public):
        return public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)

    if spki(private.public_key()) != spki(certificate.public_key()):
        raise RuntimeError("REPORT_SIGNING_CERT is not the certificate of the key in REPORT_SIGNING_KEY")


def _load_x509(raw: bytes):
    from cryptography import x509

    return x509.load_pem_x509_certificate(raw) if b"-----BEGIN" in raw else x509.load_der_x509_certificate(raw)


def _config() -> tuple:
    from django.conf import settings

    return (str(settings.REPORT_SIGNING_KEY), str(settings.REPORT_SIGNING_CERT or ""),
            settings.REPORT_SIGNING_PASSWORD or "", tuple(map(str, settings.REPORT_SIGNING_CHAIN)),
            tuple(map(str, settings.REPORT_TRUST_ROOTS)))


def _certs(paths) -> list:
    from pyhanko.keys import load_certs_from_pemder

    return list(load_certs_from_pemder(paths))


@lru_cache(maxsize=4)
def _signer(key: str, cert: str, password: str, chain: tuple):
    # Loaded once a process (per configuration: tests switch certificates): reading and decrypting
    # the key costs more than a signature.
    from pyhanko.sign import signers

    secret = password.encode() if password else None
    if _is_pkcs12(key):
        loaded = signers.SimpleSigner.load_pkcs12(key, ca_chain_files=list(chain) or None, passphrase=secret)
        if loaded is not None and cert:
            from pyhanko.keys import load_cert_from_pemder

            loaded.signing_cert = load_cert_from_pemder(cert)
    else:
        loaded = signers.SimpleSigner.load(key, cert, ca_chain_files=list(chain) or None, key_passphrase=secret)
    if loaded is None:
        raise RuntimeError(f"REPORT_SIGNING_KEY {key} cannot be loaded")
    return _kept_key_signer(loaded)


def _kept_key_signer(loaded):
    """pyHanko's SimpleSigner parses its key again for every raw signature (twice a statement: once
    to size the placeholder), and cryptography's RSA key check makes that ~150 ms each time; this one
    keeps the parsed key."""
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.serialization import load_der_private_key
    from pyhanko.sign.general import get_pyca_cryptography_hash
    from pyhanko.sign.signers import SimpleSigner

    class KeptKeySigner(SimpleSigner):
        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            if self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo != "rsassa_pkcs1v15":
                return super().sign_raw(data, digest_algorithm)  # other key types: pyHanko's own way
            return self.parsed_key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))

    signer = KeptKeySigner(signing_cert=loaded.signing_cert, signing_key=loaded.signing_key,
                           cert_registry=loaded.cert_registry)
    signer.parsed_key = load_der_private_key(loaded.signing_key.dump(), password=None)
    return signer


def _validation_context(trust_roots: tuple, chain: tuple = ()):
    from pyhanko_certvalidator import ValidationContext

    # No fetching: the server may reach no CRL or OCSP responder, and a statement must verify
    # offline the same way; certificates that name no revocation source validate on the chain alone.
    return ValidationContext(trust_roots=_certs(trust_roots), other_certs=_certs(chain), allow_fetching=False,
                             revocation_mode="soft-fail")


# -- signing ---------------------------------------------------------------------------------

def _off_the_event_loop(call, *args, **kwargs):
    """pyHanko's synchronous calls start an asyncio loop of their own, which Python refuses inside a running
    one (an ASGI server, a browser-driving test): there, run the call on a worker thread instead."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call(*args, **kwargs)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call, *args, **kwargs).result()


def sign_pdf(pdf: bytes | str | Path, *, reason: str = REASON) -> bytes:
    """The PDF with the institution's PAdES signature over all of it (an invisible signature field:
    the signature panel of every reader lists it, and no page's text is covered)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    raw = pdf if isinstance(pdf, bytes) else Path(pdf).read_bytes()
    key, cert, password, chain, roots = _config()
    signer = _signer(key, cert, password, chain)
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME, reason=reason, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
        # Checked against the trust roots as it signs: a statement whose signature an auditor's
        # validator would reject (expired or untrusted certificate) is refused rather than issued.
        validation_context=_validation_context(roots, chain),
        signer_key_usage={"non_repudiation"})
    # Not strict: WeasyPrint's and pypdf's files carry harmless quirks (a comment after %%EOF among them).
    writer = IncrementalPdfFileWriter(io.BytesIO(raw), strict=False)
    return _off_the_event_loop(signers.sign_pdf, writer, meta, signer=signer).getvalue()


# -- validation -------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignatureResult:
    ok: bool
    signer: str = ""  # the signing certificate's holder (CN, O), as readers' signature panels show it
    reason: str = ""  # why the signature holds or not, in one line
    signed_at: datetime | None = None  # the time the signer's clock gave (no timestamp authority: as claimed)
    stated_reason: str = ""  # what the signature itself says it is for
    intact: bool = False  # the signed bytes are unchanged
    trusted: bool = False  # the certificate chains to a configured trust root
    whole_file: bool = False  # nothing was added after the signature


def _holder(cert) -> str:
    names = cert.subject.native
    return "，".join(n for n in (names.get("common_name"), names.get("organization_name")) if n) or \
        cert.subject.human_friendly


def validate_pdf(path: bytes | str | Path, *, trust_roots=None) -> SignatureResult:
    """Whether the statement's signature holds: intact, by a certificate chaining to one of the trust
    roots (default settings.REPORT_TRUST_ROOTS), and covering the whole file."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    raw = path if isinstance(path, bytes) else Path(path).read_bytes()
    if trust_roots is None:
        _, _, _, chain, roots = _config()
    else:
        chain, roots = (), tuple(map(str, trust_roots))
    try:
        signatures = PdfFileReader(io.BytesIO(raw), strict=False).embedded_signatures
    except Exception as exc:  # noqa: BLE001 - a damaged file is an answer, not an error
        return SignatureResult(False, reason=f"the file cannot be read as a PDF ({type(exc).__name__}: {exc})")
    if not signatures:
        return SignatureResult(False, reason="the PDF carries no signature")
    signature = signatures[0]  # the ledger's own: any other would have been added after it
    try:
        status = _off_the_event_loop(validate_pdf_signature, signature, _validation_context(roots, chain))
    except Exception as exc:  # noqa: BLE001
        return SignatureResult(False, reason=f"the signature cannot be validated ({type(exc).__name__}: {exc})")
    whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE and len(signatures) == 1
    base = dict(signer=_holder(status.signing_cert), signed_at=status.signer_reported_dt,
                stated_reason=str(signature.sig_object.get("/Reason", "")), intact=status.intact and status.valid,
                trusted=status.trusted, whole_file=whole)
    if not (status.intact and status.valid):
        return SignatureResult(False, reason="the signed content was altered (its digest no longer matches)", **base)
    if not status.trusted:
        return SignatureResult(False, reason="the signing certificate is not trusted (no valid path to a configured "
                                             "trust root: another issuer, expired or revoked)", **base)
    if not whole:
        level = status.modification_level.name if status.modification_level is not None else "unknown"
        return SignatureResult(False, reason=f"the file was changed after it was signed (modification: {level})",
                               **base)
    if not status.bottom_line:
        return SignatureResult(False, reason=f"the signature does not validate ({status.summary()})", **base)
    return SignatureResult(True, reason="intact, trusted, covers the whole file", **base)
