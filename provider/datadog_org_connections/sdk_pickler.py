"""A guard around the Pulumi SDK's serialization of dynamic providers, for programs with many of them.

`pulumi.dynamic.dynamic.serialize_provider` (every Pulumi 3 SDK this package supports, 3.272.0
included) replaces `pickle._Pickler._batch_setitems` with a wrapper that sorts the items and then
calls the method it found, and never puts the original back. Each dynamic resource a program
declares serializes its provider once, so the k-th resource pickles its dicts through k nested
wrappers: O(k) time and stack per resource, O(N^2) for N, and a `RecursionError` ("maximum
recursion depth exceeded") near the 960th dynamic resource of one program, whatever the provider.

`sdk_pickler_restored()` around the SDK call restores what was there before it, so every
resource is pickled through exactly one wrapper: the same sorted, deterministic bytes, in constant
time and stack.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["sdk_pickler_restored"]

_PATCHED = ("_batch_setitems", "save_dict")
"""The attributes of the pure-Python pickler the SDK replaces on every call."""


@contextmanager
def sdk_pickler_restored() -> Iterator[None]:
    """Undo, on exit, whatever the enclosed code did to the pickler's patched methods."""
    pickler = pickle._Pickler
    saved = {name: pickler.__dict__[name] for name in _PATCHED}
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(pickler, name, value)
