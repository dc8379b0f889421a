"""Lazy package exports: a name's module is imported the first time the name is used.

Keeps ``import riffnb`` (and ``import riffnb.diffusion``) fast: torch, diffusers and matplotlib load only when a
function that needs them is first touched.
"""

from __future__ import annotations

import importlib
import typing as T


def lazy_exports(
    package: str, exports: T.Mapping[str, str], submodules: T.Iterable[str] = ()
) -> tuple[T.Callable[[str], T.Any], T.Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``.

    ``exports`` maps each public name to the submodule (relative to ``package``) that defines it; ``submodules``
    are also reachable as attributes before they are imported.
    """
    submodules = frozenset(submodules)
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> T.Any:
        if name in exports:
            value = getattr(importlib.import_module(f".{exports[name]}", package), name)
            namespace[name] = value
            return value
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports) | submodules)

    return __getattr__, __dir__
