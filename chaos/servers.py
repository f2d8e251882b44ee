"""Private servers: a broker process of the suite's own on 127.0.0.1, killable and restartable.

:class:`PrivateServer` is the life of one such process: a free port chosen
once, :meth:`~PrivateServer.start` (spawn, then wait until it answers its
protocol), :meth:`~PrivateServer.kill` (SIGKILL; a later ``start`` comes back
on the same port and data directory) and :meth:`~PrivateServer.stop`. A
subclass says how to run the program (:meth:`~PrivateServer.command`) and,
unless ``scripts/ping.py`` knows its protocol (:attr:`~PrivateServer.protocol`),
how to tell that it answers (:meth:`~PrivateServer.answers`).

:class:`ServerTarget` is a chaos target that is its own private server.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

from .target import Target, free_port, wait_until

__all__ = ("HOST", "ROOT", "TOOLS", "PrivateServer", "ServerTarget")

HOST = "127.0.0.1"
#: The repository.
ROOT = Path(__file__).resolve().parents[1]
#: Where ``scripts/services.sh`` installs servers and keeps the files of those it starts.
TOOLS = ROOT / ".services"


@functools.cache
def _ping_module() -> ModuleType:
    """``scripts/ping.py``, the protocol checks ``scripts/services.sh`` waits with."""
    spec = importlib.util.spec_from_file_location("_kombu_scripts_ping", ROOT / "scripts" / "ping.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PrivateServer:
    """One server process on :data:`HOST`, on a port of its own that survives :meth:`kill`.

    The port is chosen on the first :meth:`start` and kept until :meth:`stop`,
    so a restart after :meth:`kill` listens where clients (and fault proxies)
    already point, on the data directory the killed process left.
    """

    #: The program's name: looked up on ``PATH``, and named in messages.
    program = ""
    #: Where ``scripts/services.sh`` installs the program, tried before ``PATH``.
    installed_at: Path | None = None
    #: Said after "is not installed" (how to install it), if anything.
    install_hint = ""
    #: The protocol ``scripts/ping.py`` checks readiness with (``""``: override :meth:`answers`).
    protocol = ""
    #: Seconds :meth:`start` waits for the server to answer.
    start_timeout = 20.0
    #: A directory under the work directory, created for the server's data (``""``: none).
    data_dir = ""
    #: A file under the work directory that gets the server's output (``None``: discarded).
    log: str | None = None

    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def binary(self) -> str | None:
        """The program's path, or ``None`` when it is not installed."""
        if self.installed_at is not None and self.installed_at.exists():
            return str(self.installed_at)
        return shutil.which(self.program)

    def available(self) -> str | None:
        """``None`` when the program is installed, else why the server cannot run."""
        if self.binary() is None:
            hint = f" ({self.install_hint})" if self.install_hint else ""
            return f"{self.program} is not installed{hint}"
        return None

    @property
    def address(self) -> tuple[str, int]:
        """The server's ``(host, port)`` (port 0 before the first :meth:`start`)."""
        return HOST, self.port

    def command(self, workdir: Path, data: Path) -> list[str]:
        """The argument vector that runs the server on :attr:`port` with its data in ``data``."""
        raise NotImplementedError

    def answers(self) -> bool:
        """Whether the server answers its protocol now (may raise when it does not)."""
        if not self.protocol:
            raise NotImplementedError(f"{type(self).__name__} names no protocol: override answers()")
        _ping_module().CHECKS[self.protocol](HOST, self.port, 1.0)
        return True

    def pick_port(self) -> int:
        """The port of a first start."""
        return free_port()

    def launch(self, workdir: Path) -> None:
        """Spawn the server, its working directory ``workdir``, without waiting for it."""
        data = workdir / self.data_dir
        data.mkdir(parents=True, exist_ok=True)
        argv = self.command(workdir, data)
        if self.log is None:
            self.proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return
        with open(workdir / self.log, "ab") as out:  # the child keeps its own copy
            self.proc = subprocess.Popen(argv, cwd=workdir, stdout=out, stderr=out)

    def start(self, workdir: Path) -> None:
        """Start the server (again after :meth:`kill`: same port, same data) and wait until it answers.

        ``RuntimeError`` when it does not answer within :attr:`start_timeout`
        seconds; the process is then killed, not left behind.
        """
        if not self.port:
            self.port = self.pick_port()
        self.launch(workdir)
        try:
            wait_until(self.answers, self.start_timeout, f"{self.program} on port {self.port}")
        except RuntimeError:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL the server and reap it (what survives is what it had persisted)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        """Stop the server for good; a later :meth:`start` picks a new port."""
        self.kill()
        self.port = 0


class ServerTarget(PrivateServer, Target):
    """A chaos target on a private server of its own: the server's life is the target's.

    A subclass sets the :class:`Target` attributes, :attr:`Target.url_format`,
    the :class:`PrivateServer` ones (at least :attr:`~PrivateServer.program`
    and :meth:`~PrivateServer.command`), :attr:`clients` and writes
    :meth:`~Target.inject_poison`.
    """

    #: Python modules the target needs (the broker's raw client, for the poison).
    clients: tuple[str, ...] = ()

    def available(self) -> str | None:
        """Why the server or one of :attr:`clients` is missing, or ``None``."""
        why = super().available()
        if why is not None:
            return why
        for module in self.clients:
            try:
                importlib.import_module(module)
            except ImportError:
                return f"{module} (Python) is not installed"
        return None
