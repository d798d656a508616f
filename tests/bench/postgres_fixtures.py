"""A throw-away PostgreSQL server and an ``mlflow server`` on it, for the shared-tracking tests.

:func:`postgres_bin` finds PostgreSQL's server binaries (Debian keeps them in
``/usr/lib/postgresql/<version>/bin``, off ``PATH``); when they are missing it installs Debian's
``postgresql`` package with apt-get if this runs as root, else skips, saying why (as the report
tests do for ``chromium``). Debian's package does not start a server in a container (its
``policy-rc.d`` forbids it); where it does, that server (port 5432) is not the one used here.

:func:`postgres_uri` starts a server of its own for the session:

- ``initdb`` and ``postgres`` refuse to run as root. As root, both run as the system user
  ``postgres`` (which Debian's package creates; it is created with ``useradd --system`` if
  missing), through ``subprocess.Popen(user=, group=, extra_groups=[])``: the process started
  *is* the postmaster (no ``su``/``runuser`` in between), so it is stopped by its own PID.
  As any other user they run as that user.
- The cluster lives in a fresh ``mkdtemp`` directory under ``/tmp`` (pytest's tmp directories
  are private to root, out of the ``postgres`` user's reach), chowned to that user:
  ``initdb -D <dir>/data -U postgres --auth=trust --no-locale --encoding=UTF8`` (trust:
  127.0.0.1 and the socket, no password; the C locale, which every system has), then ``postgres -D <dir>/data -k <dir> -h 127.0.0.1 -p <free port>`` (the Unix
  socket in the same directory, TCP on loopback only) with fsync and synchronous commit off
  (nothing here must survive a crash).
- Once it accepts connections, a database ``bench`` is created, and the fixture yields
  ``postgresql+psycopg://postgres@127.0.0.1:<port>/bench`` (psycopg 3, the ``psycopg[binary]``
  package; skipped without it). Afterwards the postmaster gets SIGINT (PostgreSQL's "fast"
  shutdown), is waited for (SIGKILL after 60 s), and the directory is removed.

:func:`mlflow_postgres_server` starts ``mlflow server`` on that store with one worker and job
execution off (:mod:`entropy_bench.ui`'s ``server_command``/``server_env``/``wait_ready``/``stop``),
artifacts proxied by the server (``--serve-artifacts``, MLflow's default) to a tmp directory
(``--artifacts-destination``), and yields its ``http://127.0.0.1:<port>`` URL and its log file.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from entropy_bench import ui

from debian import apt_install_or_skip

SERVER_BINARIES = ("initdb", "postgres")
PG_USER = "postgres"  # the OS user the server runs as when the tests run as root, and its superuser role
DATABASE = "bench"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_bin() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``: on ``PATH``, else Debian's newest
    ``/usr/lib/postgresql/<version>/bin``."""
    on_path = [shutil.which(name) for name in SERVER_BINARIES]
    if all(on_path) and Path(on_path[0]).parent == Path(on_path[1]).parent:
        return Path(on_path[0]).parent
    debian = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    debian = [d for d in debian if (d / "postgres").exists()]
    return max(debian, key=lambda d: _version(d.parent.name)) if debian else None


def _version(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in name.split("."))


@pytest.fixture(scope="session")
def postgres_bin() -> Path:
    """PostgreSQL's server binaries; Debian's ``postgresql`` installed with apt-get when missing and root."""
    if not find_bin():
        apt_install_or_skip("postgresql", "PostgreSQL")
    return find_bin() or pytest.skip("PostgreSQL: apt-get installed no initdb/postgres binaries")


def _run_as() -> dict:
    """``Popen`` keywords that run a PostgreSQL binary as a non-root user (none needed unless root)."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        done = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell",
                               "/usr/sbin/nologin", PG_USER], capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"PostgreSQL refuses to run as root and there is no {PG_USER!r} user to run it as "
                        f"(useradd failed: {done.stderr.strip()})")
    return {"user": PG_USER, "group": pwd.getpwnam(PG_USER).pw_gid, "extra_groups": []}


@dataclass
class Postgres:
    uri: str  # SQLAlchemy URI of the test database (psycopg 3)
    port: int
    pid: int  # the postmaster's
    log: Path


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _connect(port: int, dbname: str):
    import psycopg

    return psycopg.connect(host="127.0.0.1", port=port, user=PG_USER, dbname=dbname, autocommit=True,
                           connect_timeout=2)


def _wait_accepting(port: int, process: subprocess.Popen, log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"postgres exited with code {process.returncode} before accepting connections:\n{_tail(log)}")
        try:
            _connect(port, "postgres").close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                pytest.fail(f"postgres did not accept connections within {START_TIMEOUT_S:.0f} s:\n{_tail(log)}")
            time.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    """Fast shutdown (SIGINT) of the postmaster by its PID; SIGKILL if it has not exited in time."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGINT)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="session")
def postgres_uri(postgres_bin: Path):
    """A running throw-away PostgreSQL on 127.0.0.1 for the session: a :class:`Postgres` (``.uri``)."""
    pytest.importorskip("psycopg", reason="the PostgreSQL driver: pip install 'psycopg[binary]>=3.1'")
    run_as = _run_as()
    base = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
    process = None
    try:
        if run_as:
            os.chown(base, pwd.getpwnam(PG_USER).pw_uid, run_as["group"])
        data, log = base / "data", base / "postgres.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}  # no PGDATA, PGPORT, … of the caller's
        init = subprocess.run([str(postgres_bin / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust",
                               "--no-locale", "--encoding=UTF8", "--no-sync"],
                              capture_output=True, text=True, cwd=base, env=env, timeout=300, **run_as)
        if init.returncode:
            pytest.fail(f"initdb failed ({init.returncode}): {init.stderr.strip()[-2000:]}")
        port = free_port()
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(postgres_bin / "postgres"), "-D", str(data), "-k", str(base), "-h", "127.0.0.1",
                 "-p", str(port), "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                stdout=out, stderr=subprocess.STDOUT, cwd=base, env=env, start_new_session=True, **run_as)
        _wait_accepting(port, process, log)
        with _connect(port, "postgres") as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        yield Postgres(f"postgresql+psycopg://{PG_USER}@127.0.0.1:{port}/{DATABASE}", port, process.pid, log)
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Server:
    url: str
    log: Path
    artifacts: Path


@pytest.fixture(scope="session")
def mlflow_postgres_server(postgres_uri: Postgres, tmp_path_factory):
    """``mlflow server`` (one worker, job execution off) on the PostgreSQL store, artifacts
    served from a tmp directory: a :class:`Server` (``.url``)."""
    root = tmp_path_factory.mktemp("mlflow-postgres")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / "server.log"
    command = ui.server_command(postgres_uri.uri, "127.0.0.1", port, 1) + [
        "--serve-artifacts", "--artifacts-destination", str(root / "artifacts")]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=ui.server_env(False),
                                   cwd=root, start_new_session=True)
    try:
        try:
            ui.wait_ready(url, process, timeout_s=180)  # the first start creates MLflow's schema
        except ui.ServerError as err:
            pytest.fail(f"{err}:\n{_tail(log)}")
        yield Server(url, log, root / "artifacts")
    finally:
        ui.stop(process)
