"""The process's memory reuse on CPU (``models.common.reuse_freed_memory``)."""

import os
import subprocess
import sys

import pytest

# SAM's image embedding, three times after a first one, on the main thread or on another one (as in a
# Ray actor), and the fewest page faults one of them took: the heap may still grow on the second call
# (measured: up to 33k pages once, then none), the steady state is what the setting is for.
_FAULTS = """
import resource, sys, threading
import numpy as np
from bmp_ray.models.common import reuse_freed_memory
from bmp_ray.models.segmenter import build_segmenter
mode, where, weights = sys.argv[1:]
sam = build_segmenter("sam-tiny", weights=weights, device="cpu")
if mode == "reuse":
    assert reuse_freed_memory()
frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)
def work():
    sam.embed([frame])
    counts = []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        sam.embed([frame])
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(min(counts))
if where == "main":
    work()
else:
    t = threading.Thread(target=work)
    t.start()
    t.join()
"""


def _faults(mode: str, where: str, weights) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode, where, str(weights)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
@pytest.mark.parametrize("where", ["main", "thread"])
def test_sam_embedding_reuses_freed_memory_instead_of_faulting_it_in(weights_dir, where):
    default, reuse = _faults("default", where, weights_dir), _faults("reuse", where, weights_dir)
    assert default > 10 * reuse, (default, reuse)  # measured: 138k and 135k against 0 pages


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_arrow_allocates_through_the_same_malloc():
    code = (
        "import pyarrow as pa\n"
        "from bmp_ray.models.common import reuse_freed_memory\n"
        "assert reuse_freed_memory()\n"
        "print(pa.default_memory_pool().backend_name)"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["system"]  # pyarrow's wheels default to mimalloc


def test_actors_start_with_arrows_system_pool():
    from bmp_ray.models.common import REUSE_MEMORY_ENV

    code = "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    env = {**os.environ, **REUSE_MEMORY_ENV}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["system"]
