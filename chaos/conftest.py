"""pytest wiring for the bounded chaos suite: import path and the summary table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:  # `import chaos` under --import-mode=importlib
    sys.path.insert(0, ROOT)

from chaos.report import RESULTS, format_table  # noqa: E402


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if RESULTS:
        terminalreporter.section("chaos")
        terminalreporter.write_line(format_table(RESULTS))
