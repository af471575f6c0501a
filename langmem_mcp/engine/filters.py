"""Metadata filters → a parameterised SQL clause over `m.metadata` (JSON).

`{"kind": "fact", "year": {"$gte": 2020}, "tag": {"$in": ["a", "b"]}}`: every condition must
hold. Keys may use dots for nested fields. Values are bound parameters, never SQL.
"""

from __future__ import annotations

import re
from typing import Any

from langmem_mcp.errors import InvalidInput

_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}(\.[A-Za-z0-9_\-]{1,64}){0,7}$")
_CMP = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
MAX_CONDITIONS = 32
MAX_IN = 100


def _path(key: str) -> str:
    return "$" + "".join(f'."{part}"' for part in key.split("."))


def _scalar(key: str, value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if value is None or isinstance(value, int | float | str):
        return value
    raise InvalidInput(f"filter value for {key!r} must be a string, number, boolean or null")


def compile_filter(spec: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """Return (clause, params); an empty clause means no filter."""
    if not spec:
        return "", []
    if not isinstance(spec, dict):
        raise InvalidInput("filter must be an object mapping metadata fields to values")
    clauses: list[str] = []
    params: list[Any] = []
    for key, cond in spec.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise InvalidInput(
                f"filter field {str(key)[:70]!r} is not a valid field name (letters, digits, _ - and dots)"
            )
        expr = "json_extract(m.metadata, ?)"
        path = _path(key)
        ops = cond if isinstance(cond, dict) else {"$eq": cond}
        if not ops:
            raise InvalidInput(f"filter for {key!r} is an empty object")
        for op, value in ops.items():
            if op in _CMP:
                v = _scalar(key, value)
                if v is None:
                    clauses.append(f"{expr} IS {'NOT ' if op == '$ne' else ''}NULL")
                    params.append(path)
                else:
                    clauses.append(f"{expr} {_CMP[op]} ?")
                    params += [path, v]
            elif op in ("$in", "$nin"):
                if not isinstance(value, list) or not value or len(value) > MAX_IN:
                    raise InvalidInput(f"{op} for {key!r} needs a list of 1 to {MAX_IN} values")
                marks = ",".join("?" * len(value))
                clauses.append(f"{expr} {'NOT ' if op == '$nin' else ''}IN ({marks})")
                params += [path, *(_scalar(key, v) for v in value)]
            elif op == "$exists":
                clauses.append(f"{expr} IS {'NOT ' if value else ''}NULL")
                params.append(path)
            else:
                raise InvalidInput(
                    f"unknown filter operator {str(op)[:40]!r} for {key!r}; use a value or one of "
                    "$eq $ne $gt $gte $lt $lte $in $nin $exists"
                )
        if len(clauses) > MAX_CONDITIONS:
            raise InvalidInput(f"filter has more than {MAX_CONDITIONS} conditions")
    return "(" + " AND ".join(clauses) + ")", params
