"""Create the project's virtualenv at .venv with a working pip, using only the standard library.

Debian's python3 ships without ensurepip unless python3-venv is installed, so a plain
``python3 -m venv`` fails on a fresh machine. Then this creates the venv without pip and installs
pip from its wheel on PyPI (pip runs from its own wheel). Nothing else needs installing by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import urljoin

VENV = Path(sys.argv[1] if len(sys.argv) > 1 else ".venv")
PY = VENV / "bin" / "python"


def has_pip() -> bool:
    return PY.exists() and subprocess.run([PY, "-m", "pip", "--version"], capture_output=True).returncode == 0


def main() -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs before the venv exists
        print(f"cashout needs Python 3.11 or newer; this is {sys.version.split()[0]}", file=sys.stderr)
        return 1
    if has_pip():
        return 0
    if subprocess.run([sys.executable, "-m", "venv", VENV], capture_output=True).returncode != 0:
        print("python3 -m venv has no ensurepip here; creating the venv without pip and fetching pip from PyPI")
        subprocess.run([sys.executable, "-m", "venv", "--clear", "--without-pip", VENV], check=True)
    if has_pip():
        return 0
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    base = index[: -len("/simple")] if index.endswith("/simple") else index
    meta_url = f"{base}/pypi/pip/json"
    with urllib.request.urlopen(meta_url, timeout=60) as response:  # noqa: S310 - fixed https URL
        release = json.load(response)
    wheel = next(u for u in release["urls"] if u["packagetype"] == "bdist_wheel")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / wheel["filename"]
        # Mirrors may answer with URLs relative to the metadata document.
        urllib.request.urlretrieve(urljoin(meta_url, wheel["url"]), path)  # noqa: S310 - from PyPI's metadata
        subprocess.run([PY, f"{path}/pip", "install", "--quiet", str(path)], check=True)
    return 0 if has_pip() else 1


if __name__ == "__main__":
    sys.exit(main())
