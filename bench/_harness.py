"""What every benchmark script does around its measurement: a temp folder PostgreSQL can use,
SIGTERM handled like Ctrl-C, the tails of the relevant logs on failure, and cleanup."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path


def run_in_tempdir(
    prefix: str, run: Callable[[Path], dict], logs: Callable[[Path], list[Path]]
) -> dict | None:
    """run(tmp) in a fresh folder that is always removed; None when it failed or was interrupted."""

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(tmp, 0o755)  # PostgreSQL runs as `postgres` when we are root
    try:
        return run(tmp)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return None
    except Exception:
        traceback.print_exc()
        for log in logs(tmp):
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print(f"--- {log.name} (last lines)\n" + "\n".join(tail), file=sys.stderr)
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
