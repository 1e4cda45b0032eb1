"""Real mail servers for tests: Dovecot (IMAP) as a child process, aiosmtpd (SMTP) in a thread.

Nothing here is faked: :class:`Dovecot` runs Debian's ``dovecot`` binary in the foreground with a
generated configuration under a temporary folder (loopback only, a passwd-file user, Maildir,
no syslog), optionally with a self-signed certificate for implicit TLS and STARTTLS.
:class:`SmtpServer` is aiosmtpd's own server on loopback with a handler that records what it
received, or refuses it (``451``, ``550``), or accepts the data and never answers.

Install Dovecot with ``scripts/install_test_services.sh`` (``apt-get install dovecot-imapd``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import imaplib
import ipaddress
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from cashout_server.contract import InboundEmail
from cashout_server.settings import MailSettings

__all__ = [
    "Dovecot",
    "ReceivedMail",
    "SmtpServer",
    "dovecot_binary",
    "load_email",
    "self_signed_cert",
]

USER = "seller@example.com"
PASSWORD = "correct horse battery staple"  # noqa: S105 - the throwaway test server's own user


def load_email(source: Path | bytes) -> InboundEmail:
    """Decode an ``.eml`` file (or raw bytes) exactly as the server's mail intake does.

    Args:
        source: the file's path or the message's bytes.

    Returns:
        The :class:`InboundEmail` a plugin's ``parse_lead_email`` receives.
    """
    from cashout_server.domain.mail.decode import decode_email

    raw = source.read_bytes() if isinstance(source, Path) else source
    return decode_email(raw)


def dovecot_binary() -> str | None:
    """The path of the ``dovecot`` binary, or ``None`` when it is not installed."""
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None
    )


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for ``localhost`` and ``127.0.0.1`` and its key.

    Args:
        folder: where to write ``cert.pem`` and ``key.pem``.

    Returns:
        The certificate's and the key's paths; trust the certificate with
        ``ssl.create_default_context(cafile=cert)``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o644)  # dovecot's config reader runs unprivileged
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _accounts() -> tuple[str, str, int, int]:
    """Login user, internal user, and the uid/gid mail is stored under."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid
    names = {entry.pw_name: entry for entry in pwd.getpwall()}
    login = "dovenull" if "dovenull" in names else "nobody"
    internal = "dovecot" if "dovecot" in names else "nobody"
    # Dovecot refuses to access mail as root; store it as the internal user.
    return login, internal, names[internal].pw_uid, names[internal].pw_gid


@dataclass
class Dovecot:
    """A Dovecot IMAP server on 127.0.0.1 with one user, ``USER`` / ``PASSWORD``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.

    Attributes:
        tls: also serve implicit TLS (``imaps_port``) and STARTTLS with a self-signed certificate.
    """

    tls: bool = False
    user: str = USER
    password: str = PASSWORD
    port: int = 0
    imaps_port: int = 0
    root: Path = field(default_factory=Path)
    cert: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def log_path(self) -> Path:
        """Dovecot's log file."""
        return self.root / "dovecot.log"

    def log(self) -> str:
        """Everything Dovecot logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 15.0) -> Dovecot:
        """Write the configuration, start ``dovecot -F`` and wait until it greets.

        Raises:
            RuntimeError: the binary is missing or the server did not come up (with its log).
        """
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError("dovecot is not installed (scripts/install_test_services.sh)")
        login, internal, uid, gid = _accounts()
        # Under /tmp itself: pytest's own temporary folders are private to the test user, and
        # dovecot's unprivileged processes must be able to reach the mail and the user list.
        self.root = Path(tempfile.mkdtemp(prefix="cashout-dovecot-"))
        self.root.chmod(0o755)
        mail = self.root / "mail"
        mail.mkdir()
        os.chown(mail, uid, gid)
        users = self.root / "users"
        users.write_text(f"{self.user}:{{PLAIN}}{self.password}:{uid}:{gid}::{mail}/{self.user}\n")
        users.chmod(0o644)
        self.port = _free_port()
        ssl_lines = "ssl = no\n"
        imaps = "  inet_listener imaps {\n    port = 0\n  }\n"
        if self.tls:
            self.cert, key = self_signed_cert(self.root)
            self.imaps_port = _free_port()
            ssl_lines = f"ssl = yes\nssl_cert = <{self.cert}\nssl_key = <{key}\n"
            imaps = (
                f"  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {self.imaps_port}\n"
                "    ssl = yes\n  }\n"
            )
        config = self.root / "dovecot.conf"
        config.write_text(
            f"""protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.log_path}
info_log_path = {self.log_path}
{ssl_lines}disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login}
default_internal_user = {internal}
mail_location = maildir:~/Maildir
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
{imaps}}}
"""
        )
        self.proc = subprocess.Popen(  # noqa: S603 - the installed dovecot with our own config
            [binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self.stop()
                raise RuntimeError(f"dovecot exited with {self.proc.returncode}: {err}\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not answer within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        if self.root != Path() and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)

    def settings(self, **overrides: Any) -> MailSettings:
        """Mail settings pointed at this server (plain IMAP unless overridden)."""
        values: dict[str, Any] = {
            "imap_host": "127.0.0.1",
            "imap_port": self.port,
            "imap_tls": "none",
            "imap_user": self.user,
            "imap_password": SecretStr(self.password),
            "imap_folder": "INBOX",
            "timeout": 10.0,
        }
        values.update(overrides)
        return MailSettings(**values)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's self-signed certificate."""
        assert self.cert is not None, "start with tls=True"
        return ssl.create_default_context(cafile=str(self.cert))

    @contextlib.contextmanager
    def client(self) -> Any:
        """A logged-in ``imaplib`` client (plain IMAP)."""
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        try:
            conn.login(self.user, self.password)
            yield conn
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                conn.logout()

    def deliver(self, raw: bytes, *, folder: str = "INBOX", seen: bool = False) -> int:
        """Put a message in ``folder`` (IMAP APPEND) and return its UID."""
        with self.client() as conn:
            typ, data = conn.append(f'"{folder}"', "(\\Seen)" if seen else "", None, raw)
            assert typ == "OK", data
            text = data[0].decode() if data and isinstance(data[0], bytes) else ""
        # "[APPENDUID <uidvalidity> <uid>] Append completed."
        return int(text.split("APPENDUID", 1)[1].split()[1].rstrip("]"))

    def create_folder(self, folder: str) -> None:
        """Create ``folder``."""
        with self.client() as conn:
            typ, data = conn.create(f'"{folder}"')
            assert typ == "OK", data

    def delete_folder(self, folder: str) -> None:
        """Delete ``folder`` and all its mail (its next incarnation gets a new UIDVALIDITY)."""
        with self.client() as conn:
            typ, data = conn.delete(f'"{folder}"')
            assert typ == "OK", data

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """Every message's flags by UID, read without changing them."""
        with self.client() as conn:
            conn.select(f'"{folder}"', readonly=True)
            typ, data = conn.uid("FETCH", "1:*", "(UID FLAGS)")
            assert typ == "OK", data
        out: dict[int, set[str]] = {}
        for item in data:
            if not isinstance(item, bytes):
                continue
            text = item.decode()
            uid = int(text.split("UID ", 1)[1].split()[0].rstrip(")"))
            flags = text.split("FLAGS (", 1)[1].split(")", 1)[0]
            out[uid] = set(flags.split())
        return out


# --- SMTP ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    def message(self) -> EmailMessage:
        """The message, parsed."""
        parsed = email.message_from_bytes(self.data, _class=EmailMessage, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if self.server.mode == "tempfail":
            return "451 4.3.0 Temporary local problem, try again later"
        if self.server.mode == "reject":
            return "550 5.1.1 Recipient address rejected: relay address expired"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.server.mode == "hang":
            # Accept the data and never answer: the client sees a timeout after sending.
            self.server.hung.set()
            await asyncio.sleep(3600)
        self.server.received.append(
            ReceivedMail(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=bytes(envelope.original_content or envelope.content),
            )
        )
        return "250 2.0.0 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on 127.0.0.1, in its own thread.

    ``mode``: ``accept`` (record every message), ``tempfail`` (451 for every recipient),
    ``reject`` (550 for every recipient) or ``hang`` (take the data, never answer).
    """

    def __init__(self, mode: str = "accept") -> None:
        from aiosmtpd.controller import Controller

        self.mode = mode
        self.received: list[ReceivedMail] = []
        self.hung = threading.Event()
        self.port = _free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def settings(self, **overrides: Any) -> MailSettings:
        """Mail settings sending through this server without TLS."""
        values: dict[str, Any] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_tls": "none",
            "from_address": "seller@example.com",
            "timeout": 5.0,
        }
        values.update(overrides)
        return MailSettings(**values)
