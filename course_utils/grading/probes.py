"""Probes: what a hidden test sends back from the sandbox, and how the grader compares it.

A hidden test region of an exercise (between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN
TESTS``) holds no asserts and no expected values. It *measures* the student's answer::

    m = build_add_model(392, 392, 64)
    probe("params", m.count_params())
    probe("input shapes", [tuple(t.shape) for t in m.inputs])
    probe("softmax rows", keras.ops.convert_to_numpy(m(x)).sum(axis=1), atol=1e-5)

The grader runs the same region twice, each in its own sandbox: once after the student's answer
cells, once after the instructor's solutions. Each run sends its probes back as data (typed JSON,
size-bounded; never pickle). The grading process, which never runs student code, decodes both
and compares them label by label: same labels in the same order, same types and shapes, equal
values (floats within ``rtol``/``atol``, taken from the *reference* run). The hidden part passes
only when every probe matches. The expected values exist only in the reference sandbox and the
grading process.

In a notebook run outside the grader (the instructor's version in CI), :func:`probe` only checks
that the value can be sent, so a probe that could never be compared fails there, early.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

#: Per probe and per test cell (the encoded JSON), and per array.
MAX_PROBE_BYTES = 256 * 1024
MAX_TEST_BYTES = 1024 * 1024
MAX_ARRAY_ELEMENTS = 20_000
MAX_DEPTH = 8
_DTYPES = (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64",
)  # fmt: skip


#: Where :func:`probe` appends its records while :func:`recording` is active (the grader's sandbox).
_sink: list | None = None


class ProbeError(ValueError):
    """A probe value that cannot be sent, or probe data that is malformed."""


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-compatible data with explicit types (no pickle, no arbitrary classes)."""
    if depth > MAX_DEPTH:
        raise ProbeError(f"probe values may nest at most {MAX_DEPTH} levels")
    if value is None:
        return {"t": "none"}
    if isinstance(value, (bool, np.bool_)):
        return {"t": "bool", "v": bool(value)}
    if isinstance(value, (int, np.integer)):
        return {"t": "int", "v": str(int(value))}
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return {"t": "float", "v": repr(f) if math.isfinite(f) else str(f)}
    if isinstance(value, str):
        return {"t": "str", "v": str(value)}
    if isinstance(value, (list, tuple)):
        return {
            "t": "tuple" if isinstance(value, tuple) else "list",
            "v": [encode(item, depth + 1) for item in value],
        }
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ProbeError("probe dicts need str keys")
        return {"t": "dict", "v": {str(k): encode(v, depth + 1) for k, v in value.items()}}
    if isinstance(value, np.ndarray):
        if value.dtype.name not in _DTYPES:
            raise ProbeError(f"arrays of dtype {value.dtype} cannot be probed; use {_DTYPES}")
        if value.size > MAX_ARRAY_ELEMENTS:
            raise ProbeError(
                f"an array of {value.size} elements is too large to probe "
                f"(at most {MAX_ARRAY_ELEMENTS}); probe a summary or a slice"
            )
        data = np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<"), copy=False)
        return {
            "t": "array",
            "dtype": value.dtype.name,
            "shape": [int(n) for n in value.shape],
            "b64": base64.b64encode(data.tobytes()).decode("ascii"),
        }
    raise ProbeError(
        f"a {type(value).__name__} cannot be probed: reduce it to numbers, strings, lists, dicts "
        "or NumPy arrays (keras.ops.convert_to_numpy for tensors)"
    )


def decode(data: Any, depth: int = 0) -> Any:
    """The inverse of :func:`encode`, for data from an untrusted process: fixed types only."""
    if depth > MAX_DEPTH + 1 or not isinstance(data, dict) or not isinstance(data.get("t"), str):
        raise ProbeError("malformed probe data")
    kind, v = data["t"], data.get("v")
    if kind == "none":
        return None
    if kind == "bool" and isinstance(v, bool):
        return v
    if kind == "int" and isinstance(v, str) and len(v) <= 400:
        return int(v)
    if kind == "float" and isinstance(v, str) and len(v) <= 40:
        return float(v)
    if kind == "str" and isinstance(v, str):
        return v
    if kind in ("list", "tuple") and isinstance(v, list):
        items = [decode(item, depth + 1) for item in v]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict" and isinstance(v, dict):
        return {str(k): decode(item, depth + 1) for k, item in v.items()}
    if kind == "array":
        dtype, shape, b64 = data.get("dtype"), data.get("shape"), data.get("b64")
        if (
            dtype in _DTYPES
            and isinstance(shape, list)
            and all(type(n) is int and 0 <= n <= MAX_ARRAY_ELEMENTS for n in shape)
            and isinstance(b64, str)
        ):
            raw = base64.b64decode(b64.encode("ascii"), validate=True)
            size = math.prod(shape)
            if size <= MAX_ARRAY_ELEMENTS and len(raw) == size * np.dtype(dtype).itemsize:
                return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)
    raise ProbeError("malformed probe data")


def record(label: Any, value: Any, rtol: Any = 0.0, atol: Any = 0.0) -> dict:
    """One probe as a JSON-ready dict, checked for type and size."""
    if not isinstance(label, str) or not label or len(label) > 120:
        raise ProbeError("a probe's label is a short non-empty string")
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not 0 <= tol < 1e6:
            raise ProbeError(f"{name} must be a non-negative number")
    entry = {"label": label, "value": encode(value), "rtol": float(rtol), "atol": float(atol)}
    if len(json.dumps(entry)) > MAX_PROBE_BYTES:
        raise ProbeError(
            f"probe {label!r} is larger than {MAX_PROBE_BYTES // 1024} KB; probe a summary"
        )
    return entry


def probe(label: str, value: Any, *, rtol: float = 0.0, atol: float = 0.0) -> None:
    """Outside the grader: check that ``value`` could be sent and compared (see the module doc).

    In the grader's sandbox this name is replaced by a recorder; the comparison with the
    reference happens in the grading process.
    """
    entry = record(label, value, rtol, atol)
    if _sink is not None:
        _sink.append(entry)


@contextmanager
def recording() -> Iterator[list]:
    """Collect every :func:`probe` made inside the block (the records are JSON-ready dicts)."""
    global _sink
    previous, _sink = _sink, []
    try:
        yield _sink
    finally:
        _sink = previous


def _close(a: Any, b: Any, rtol: float, atol: float) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, bool) or a is None or isinstance(a, (int, str)):
        return a == b
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or abs(a - b) <= atol + rtol * abs(b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y, rtol, atol) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], rtol, atol) for k in a)
    if isinstance(a, np.ndarray):
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            return False
        if a.dtype.kind in "biu":
            return bool(np.array_equal(a, b))
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    return False


def compare(student: list, reference: list) -> tuple[int, int, str]:
    """(matching, total, first difference) of two decoded probe lists; tolerances from
    ``reference``. ``student`` entries that are malformed count as differences."""
    total = len(reference)
    matching, first = 0, ""
    for index, ref in enumerate(reference):
        label = ref["label"]
        mine = student[index] if index < len(student) else None
        ok = (
            isinstance(mine, dict)
            and mine.get("label") == label
            and "value" in mine
            and _close(mine["value"], ref["value"], ref["rtol"], ref["atol"])
        )
        if ok:
            matching += 1
        elif not first:
            first = f"hidden check {index + 1} of {total} differs"
            if index >= len(student):
                first = (
                    f"hidden check {index + 1} of {total} was not reached "
                    "(the hidden test stopped with an error before it)"
                )
    if len(student) > total and not first:
        first = "more hidden checks than expected"
    return matching, total, first


def decode_list(text: str) -> list:
    """A probe list from the sandbox's JSON; raises :class:`ProbeError` on anything else."""
    if len(text) > MAX_TEST_BYTES * 2:
        raise ProbeError("too much probe data")
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProbeError(f"probe data is not JSON: {type(exc).__name__}") from None
    if not isinstance(raw, list) or len(raw) > 1000:
        raise ProbeError("malformed probe data")
    out = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("label"), str):
            raise ProbeError("malformed probe data")
        rtol, atol = item.get("rtol", 0.0), item.get("atol", 0.0)
        if not isinstance(rtol, (int, float)) or not isinstance(atol, (int, float)):
            raise ProbeError("malformed probe data")
        out.append(
            {
                "label": item["label"][:120],
                "value": decode(item.get("value")),
                "rtol": float(rtol),
                "atol": float(atol),
            }
        )
    return out
