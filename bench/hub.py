"""Is the Hugging Face hub reachable? One fast check (≤ 3 s) instead of the clients' retries."""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from urllib.parse import urlparse


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """False under ``HF_HUB_OFFLINE=1`` or when no TCP connection to the hub endpoint opens."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("0", "", "false"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False
