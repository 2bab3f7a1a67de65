"""Peak resident memory of a process from its own high-water mark (``VmHWM``, reset at exec).

Not ``wait4``/``getrusage(RUSAGE_CHILDREN)``: on Linux a child's ``ru_maxrss`` starts from the
forking parent's RSS, so a small CLI run from pytest with models loaded reads as 500 MB."""

from __future__ import annotations


def high_water_kib(pid: int | str = "self") -> int:
    """``pid``'s peak RSS so far in KiB; 0 once it is gone (or a zombie without memory)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0
