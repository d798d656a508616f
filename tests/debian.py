"""Debian packages a test needs (Chromium, PostgreSQL): installed with apt-get when missing and
this runs as root, else the test is skipped saying why."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def apt_install_or_skip(package: str, what: str) -> None:
    """``apt-get update`` and ``apt-get install <package>``, or ``pytest.skip`` naming ``what``
    and the reason (no apt-get, not root, or the command's last error line)."""
    cannot = f"{what} is not installed and cannot be installed here: "
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip(cannot + f"no apt-get, or not root (apt-get install {package})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", package]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            pytest.skip(cannot + f"'{' '.join(command)}' failed: {last}")
