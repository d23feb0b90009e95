"""`cper` with the given arguments, then its peak resident memory written to a file.

    CPER_PEAK_FILE=/tmp/peak python -m bench.peak contract check SLUG

The peak is the process's own (`VmHWM` of /proc/self/status, in kB), read at its end. The usage
a parent gets back from `wait4` will not do for a child of the benchmark: Linux carries the
memory high-water mark across `exec`, so a child forked from the benchmark process (hundreds of
MB of loaded data) would report the benchmark's own size, not the command's.
"""

from __future__ import annotations

import os
import sys


def _peak_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    from cper.cli import main as cper

    try:
        cper(sys.argv[1:])
    finally:
        with open(os.environ["CPER_PEAK_FILE"], "w", encoding="ascii") as out:
            out.write(str(_peak_kb()))


if __name__ == "__main__":
    main()
