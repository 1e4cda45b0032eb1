"""Fixtures: a real Dovecot (plain and TLS), a real aiosmtpd server, a runtime pointed at them.

Dovecot comes from ``scripts/install_test_services.sh``. Without it the IMAP tests skip with the
reason, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cashout_server.plugins import PluginRegistry
from cashout_server.runtime import Runtime, build_runtime
from cashout_server.settings import MailSettings, Settings
from cashout_server.testing.mailserver import Dovecot, SmtpServer, dovecot_binary

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
ROOT = HERE.parent.parent
CRAIGSLIST_FIXTURES = ROOT / "plugins" / "craigslist" / "tests" / "fixtures"
OFFERUP_FIXTURES = ROOT / "plugins" / "offerup" / "tests" / "fixtures"
IN_CI = bool(os.environ.get("CI"))


def _require_dovecot() -> None:
    if dovecot_binary() is not None:
        return
    reason = "dovecot is not installed; run scripts/install_test_services.sh"
    if IN_CI:
        pytest.fail(f"CI must run the IMAP tests: {reason}")
    pytest.skip(reason)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A fresh Dovecot with an empty mailbox, plain IMAP on loopback."""
    _require_dovecot()
    with Dovecot() as server:
        yield server


@pytest.fixture
def dovecot_tls() -> Iterator[Dovecot]:
    """A fresh Dovecot with a self-signed certificate: STARTTLS on ``port``, TLS on ``imaps_port``."""
    _require_dovecot()
    with Dovecot(tls=True) as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """An SMTP server on loopback that accepts and records everything."""
    with SmtpServer() as server:
        yield server


@pytest.fixture
async def mail_runtime(
    settings: Settings, registry: PluginRegistry, dovecot: Dovecot, smtp: SmtpServer
) -> AsyncIterator[Runtime]:
    """The real runtime (database, installed plugins) with IMAP at ``dovecot`` and SMTP at ``smtp``."""
    mail = MailSettings(
        **{
            **dovecot.settings().model_dump(),
            **smtp.settings().model_dump(include={"smtp_host", "smtp_port", "smtp_tls", "from_address"}),
        }
    )
    rt = build_runtime(dataclasses.replace(settings, mail=mail), registry=registry)
    yield rt
    await rt.close()
