from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or "musl" in (ctypes.util.find_library("c") or ""),
    reason="mallopt thresholds are a glibc feature",
)

# A loop that allocates 40 blocks of ~1 MiB and frees them all, as a kernel pass does with its
# recorded inputs and per-sample gradients; page faults counted from the second round on. The
# blocks grow by 16 KiB a round, so glibc's moving threshold (raised to the largest block freed)
# never catches up and the defaults map every round afresh, whatever ran in the process before.
_PROGRAM = textwrap.dedent(
    """
    import json, resource, torch
    from ntknas.allocator import retain_freed_memory
    applied = retain_freed_memory()
    faults = []
    for round_ in range(4):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        blocks = [torch.ones((1 << 18) + round_ * (1 << 12)) for _ in range(40)]
        del blocks
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(json.dumps({"applied": applied, "again": retain_freed_memory(), "faults": faults}))
    """
)


def _run(**env: str) -> dict:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "NTKNAS_ALLOCATOR")
    }
    environment.update(env)
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@glibc_only
def test_retained_memory_is_reused_instead_of_faulted_in_again() -> None:
    retained = _run()
    system = _run(NTKNAS_ALLOCATOR="system")
    assert retained["applied"] and retained["again"]
    assert not system["applied"]
    # 40 MiB is ~10,000 pages: glibc's defaults give them back after every round and fault them
    # in again; with the thresholds fixed the later rounds reuse them.
    assert sum(system["faults"][1:]) > 3 * 5_000, system
    assert sum(retained["faults"][1:]) < sum(system["faults"][1:]) / 10, (retained, system)


@glibc_only
@pytest.mark.parametrize(
    "setting",
    [
        ("MALLOC_TRIM_THRESHOLD_", "131072"),
        ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072"),
    ],
)
def test_a_user_tuned_allocator_is_left_alone(setting: tuple[str, str]) -> None:
    assert _run(**dict([setting]))["applied"] is False


def test_returns_a_bool_on_any_platform() -> None:
    from ntknas.allocator import retain_freed_memory

    assert isinstance(retain_freed_memory(), bool)
