"""A private beanstalkd for the tests that need their own server (size limit, restarts).

The shared server (scripts/services.sh, port 11300) is never restarted by a
test; this starts ``beanstalkd`` on a free port, optionally with a binlog
directory (``-b``) so that jobs survive :meth:`PrivateBeanstalkd.restart`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

__all__ = ("PrivateBeanstalkd", "free_port", "MAX_JOB_SIZE")

#: ``-z`` of the private servers: the kit sends a 200 kB message.
MAX_JOB_SIZE = 1 << 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateBeanstalkd:
    """``beanstalkd -l 127.0.0.1 -p PORT -z MAX_JOB_SIZE [-b BINLOG]`` owned by a test."""

    def __init__(self, binlog: Path | None = None, port: int | None = None) -> None:
        self.binary = shutil.which("beanstalkd")
        self.port = port or free_port()
        self.binlog = binlog
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"beanstalk://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> PrivateBeanstalkd:
        if self.binary is None:
            raise RuntimeError("beanstalkd is not installed (apt-get install beanstalkd)")
        args = [self.binary, "-l", "127.0.0.1", "-p", str(self.port), "-z", str(MAX_JOB_SIZE)]
        if self.binlog is not None:
            self.binlog.mkdir(parents=True, exist_ok=True)
            args += ["-b", str(self.binlog)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"private beanstalkd on port {self.port} did not start") from None
                time.sleep(0.05)

    def stop(self, kill: bool = False) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def restart(self) -> None:
        self.stop(kill=True)
        self.start()
