"""A Python flow that attacks its sandbox. The input `attack` picks the
attack; the host's tests check that each ends in its typed failure and that
nothing else is disturbed."""

import sys
import time

from stagecraft_flow import FlowError, autolaunched


def _recurse(n: int) -> int:
    return _recurse(n + 1) + 1


@autolaunched
def attack(inputs: dict) -> dict:
    attack = inputs.get("attack")
    if attack == "infinite-loop":
        n = 0
        while True:
            n += 1
    if attack == "memory-bomb":
        hoard = []
        while True:
            hoard.append(bytearray(1 << 20))
    if attack == "sleep":
        time.sleep(3600)  # blocked in a host call, where no fuel burns
        return {"slept": True}
    if attack == "deep-recursion":
        sys.setrecursionlimit(1_000_000)  # past Python's guard, into the wasm stack
        return {"depth": _recurse(0)}
    raise FlowError("unknown-attack", f"no attack named {attack!r}")
