"""Storage drivers by Quay storage class name, as Quay's ``STORAGE_DRIVER_CLASSES`` and
distribution's driver factory do it.

A driver module registers its class with ``@register("LocalStorage")``; the wiring passes the
class name and parameters of the config tuple ``[ClassName, {params}]`` to ``make_storage``.
``param_problems`` checks a tuple without building anything, for ``config validate``. Nothing
here reads the configuration itself: this layer imports nothing above it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from registry_app.storage.base import BlobStorage, Param

_DRIVERS: dict[str, type[BlobStorage]] = {}

D = TypeVar("D", bound=type[BlobStorage])


class StorageConfigError(ValueError):
    """The storage class name or its parameters are wrong. ``problems`` lists each, in words
    that name the parameter but never its value."""

    def __init__(self, class_name: str, problems: list[str]) -> None:
        self.class_name = class_name
        self.problems = problems
        super().__init__("; ".join(problems))


def register(class_name: str) -> Callable[[D], D]:
    """Class decorator: make the driver available under a Quay storage class name."""

    def deco(cls: D) -> D:
        known = _DRIVERS.get(class_name)
        if known is not None and known is not cls:
            raise ValueError(f"storage class {class_name} is already registered by {known.__qualname__}")
        names = [p.name for p in cls.PARAMS]
        if len(set(names)) != len(names):
            raise ValueError(f"{cls.__qualname__}.PARAMS names a parameter twice")
        cls.class_name = class_name
        _DRIVERS[class_name] = cls
        return cls

    return deco


def registered() -> tuple[str, ...]:
    """The storage class names drivers are registered under, sorted."""
    return tuple(sorted(_DRIVERS))


def driver_class(class_name: str) -> type[BlobStorage]:
    try:
        return _DRIVERS[class_name]
    except (KeyError, TypeError):
        raise StorageConfigError(str(class_name), [_unknown(class_name)]) from None


def _unknown(class_name: object) -> str:
    available = ", ".join(registered()) or "none"
    return f"storage class {class_name!r} is not available (available: {available})"


def _convert(param: Param, value: Any) -> tuple[Any, str | None]:
    """``value`` as ``param.kind``, or an error. bool is never taken for int (YAML's yes/no)."""
    kind = param.kind
    if kind is bool:
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if kind in (int, float):
        if isinstance(value, bool):
            return None, f"must be {'an integer' if kind is int else 'a number'}"
        if isinstance(value, int) or (kind is float and isinstance(value, float)):
            return kind(value), None
        if isinstance(value, str):
            try:
                return kind(value.strip()), None
            except ValueError:
                pass
        return None, f"must be {'an integer' if kind is int else 'a number'}"
    if kind is str:
        if isinstance(value, str) and value:
            return value, None
        return None, "must be a non-empty string"
    return (value, None) if isinstance(value, kind) else (None, f"must be a {kind.__name__}")


def _checked(class_name: str, params: Any) -> tuple[dict[str, Any], list[str]]:
    if class_name not in _DRIVERS:
        return {}, [_unknown(class_name)]
    cls = _DRIVERS[class_name]
    if not isinstance(params, Mapping):
        return {}, [f"{class_name} parameters must be a mapping"]
    declared = {p.name: p for p in cls.PARAMS}
    problems: list[str] = []
    out: dict[str, Any] = {}
    for name in params:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            problems.append(f"{class_name} has no parameter {name!r} (known: {known})")
    for p in cls.PARAMS:
        if p.name not in params or params[p.name] is None:
            if p.required:
                problems.append(f"{class_name} needs {p.name}" + (f" ({p.doc})" if p.doc else ""))
            else:
                out[p.name] = p.default
            continue
        value, error = _convert(p, params[p.name])
        if error:
            problems.append(f"{class_name} parameter {p.name} {error}")
        else:
            out[p.name] = value
    return out, problems


def param_problems(class_name: str, params: Any) -> list[str]:
    """Everything wrong with a ``[class_name, params]`` config tuple (empty when it is usable)."""
    return _checked(class_name, params)[1]


def make_storage(class_name: str, params: Mapping[str, Any]) -> BlobStorage:
    """Build the driver registered under ``class_name`` from the config tuple's parameters.
    Raises StorageConfigError naming every problem; the driver is not checked (call ``check()``)."""
    values, problems = _checked(class_name, params)
    if problems:
        raise StorageConfigError(class_name, problems)
    return _DRIVERS[class_name].from_params(values)
