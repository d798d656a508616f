#!/usr/bin/env python
"""A screenshot of the MLflow UI's runs view of one experiment, taken in headless Chromium.

Starts the UI server as ``bench ui`` does (one worker, job execution off, the experiments
tagged to open on their runs table: ``entropy_bench.ui``), waits until it answers, loads
the experiment's runs table in headless Chromium (Debian's ``chromium``), writes the PNG, and stops
the server. Used for the README's "What you will see"::

    .venv/bin/python scripts/ui_screenshot.py --tracking-uri sqlite:///mlruns.db --experiment default \\
        --out results/ui/default-runs.png
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from entropy_bench.ui import runs_url, server_command, server_env, stop, tag_experiments, wait_ready

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screenshot(url: str, out: Path, width: int, height: int, wait_ms: int) -> None:
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        sys.exit(f"no headless browser found ({', '.join(BROWSERS)}): apt-get install chromium")
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--virtual-time-budget={wait_ms}",
                    f"--screenshot={out.resolve()}", url], check=True, capture_output=True, timeout=300)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tracking-uri", default="sqlite:///mlruns.db")
    p.add_argument("--experiment", default="default")
    p.add_argument("--out", type=Path, default=Path("results/ui/default-runs.png"))
    p.add_argument("--width", type=int, default=1600)
    p.add_argument("--height", type=int, default=900)
    p.add_argument("--wait-ms", type=int, default=20000, help="the page's virtual time to render the runs")
    args = p.parse_args()
    found = MlflowClient(args.tracking_uri).get_experiment_by_name(args.experiment)
    if found is None:
        sys.exit(f"no experiment {args.experiment!r} at {args.tracking_uri}")
    tag_experiments(args.tracking_uri)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(server_command(args.tracking_uri, "127.0.0.1", port, 1), env=server_env(False),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_ready(url, server, 180)
        screenshot(runs_url(url, found.experiment_id), args.out, args.width, args.height, args.wait_ms)
    finally:
        stop(server)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
