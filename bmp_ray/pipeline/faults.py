"""Deterministic fault points for the output stage's failure tests.

A point is armed when the environment variable ``BMP_RAY_FAULT`` names it (a comma-separated list
may name several), and fires when the file ``$BMP_RAY_FAULT_DIR/<point>`` exists: the file is removed
(so the point fires once, whichever process gets there first) and the process exits hard with
``os._exit(1)``, as a killed worker or driver would. Ray workers inherit the variables from the
process that started the local Ray, so one Ray serves many fault tests. Without the variables (every
real run) a point costs one dictionary lookup.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)
FAULT_ENV = "BMP_RAY_FAULT"
FAULT_DIR_ENV = "BMP_RAY_FAULT_DIR"
POINTS = (
    "part.before_write",  # a part writer killed before its file exists
    "part.after_write",  # killed after writing its part, before returning the receipt
    "commit.between_files",  # a commit killed after the poses file, before the frames file (the marker)
    "commit.before_cleanup",  # killed after both public files, before the parts are removed
    "finalize.before_marker",  # a video's finalize killed before its marker is written
    "driver.after_commit",  # the driver killed right after it learned of a commit
)


def arm(folder: str, name: str) -> None:
    """Make the armed point ``name`` fire once (tests): create its trigger file in ``folder``."""
    assert name in POINTS, f"unknown fault point {name!r}; known: {', '.join(POINTS)}"
    open(os.path.join(folder, name), "w").close()


def point(name: str) -> None:
    """Exit the process hard here if the test armed ``name`` (see the module docstring)."""
    armed = os.environ.get(FAULT_ENV)
    if not armed or name not in armed.split(","):
        return
    assert name in POINTS, f"unknown fault point {name!r}; known: {', '.join(POINTS)}"
    folder = os.environ.get(FAULT_DIR_ENV)
    if not folder:
        return
    try:
        os.remove(os.path.join(folder, name))
    except FileNotFoundError:
        return  # fired already
    log.error("fault point %s: exiting hard (pid %d)", name, os.getpid())
    os._exit(1)
