#!/usr/bin/env bash
# Installs the system services the test suite runs for real: Dovecot (IMAP) for the mail tests.
# Idempotent: does nothing when everything is present. Debian/Ubuntu (apt-get); run as root or
# with sudo available. The SMTP server the tests use (aiosmtpd) is a Python test dependency.
set -euo pipefail

missing=()
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
  missing+=(dovecot-imapd)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "test services: dovecot present"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "test services: cannot install ${missing[*]}: apt-get not found (install Dovecot's IMAP server by hand)" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  SUDO=(sudo -n)
fi

echo "test services: installing ${missing[*]}"
# The tests start their own Dovecot (own configuration, free loopback ports); a system-wide one
# the package may start does not get in their way.
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "test services: installed ${missing[*]}"
