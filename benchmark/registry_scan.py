"""Which names a built-in package registers, read from its source without importing it.

Listing and planning must not import torch (every detector module does), so the
registry learns its built-in entries as lazy ``"module:attr"`` targets from the modules'
source text and imports a module only when one of its entries is used. Two forms are
read statically:

    @register_method                      class Foo(Method): name = "foo"
    @register_detector(INFO)              INFO = DetectorInfo("Foo", ...)   (or inline)

A module that registers in any other way (a call to ``register*`` or ``<REGISTRY>.add``
that is neither form) is imported eagerly at load, so nothing is ever missed.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path

REGISTRIES = {"DETECTORS", "METHODS", "DATASETS"}


@dataclass
class Scan:
    """Lazy targets by name, and the modules that must be imported to be known."""

    lazy: dict[str, str] = field(default_factory=dict)  # name -> "module:attr"
    eager: list[str] = field(default_factory=list)


def scan_package(package: str) -> Scan:
    """Every non-underscore module of ``package``, read statically where possible."""
    spec = importlib.util.find_spec(package)
    scan = Scan()
    if spec is None or not spec.submodule_search_locations:
        scan.eager.append(package)  # a plain module (e.g. the dataset catalog): import it
        return scan
    for info in pkgutil.iter_modules(spec.submodule_search_locations):
        if info.name.startswith("_"):
            continue
        module = f"{package}.{info.name}"
        path = Path(info.module_finder.path) / (f"{info.name}/__init__.py" if info.ispkg else f"{info.name}.py")
        found = _registrations(path)
        if found is None:
            scan.eager.append(module)
            continue
        for name, attr in found:
            scan.lazy[name] = f"{module}:{attr}"
    return scan


def _registrations(path: Path) -> list[tuple[str, str]] | None:
    """(name, attribute) pairs a module registers, or None if it must be imported to know.

    Only what runs at import can register: decorators of top-level classes and functions,
    and top-level statements (function bodies run only when called).
    """
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    assigned = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    found: list[tuple[str, str]] = []
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                name = _registered_name(node, deco, assigned)
                if name is not None:
                    found.append((name, node.name))
                elif any(_registers(n) for n in ast.walk(deco)):
                    return None
        elif any(_registers(n) for n in ast.walk(node)):
            return None
    return found


def _registered_name(node: ast.ClassDef | ast.FunctionDef, deco: ast.expr, assigned: dict[str, ast.expr]) -> str | None:
    if isinstance(node, ast.ClassDef) and not isinstance(deco, ast.Call) and _callee(deco) == "register_method":
        return _class_name_attr(node)
    if isinstance(deco, ast.Call) and _callee(deco.func) == "register_detector" and len(deco.args) == 1:
        info = deco.args[0]
        info = assigned.get(info.id, info) if isinstance(info, ast.Name) else info
        if isinstance(info, ast.Call) and _callee(info.func) == "DetectorInfo":
            return _literal_name(info)
    return None


def _class_name_attr(node: ast.ClassDef) -> str | None:
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "name" for t in stmt.targets):
            value = stmt.value
            return value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value else None
    return None


def _literal_name(call: ast.Call) -> str | None:
    candidates = call.args[:1] + [k.value for k in call.keywords if k.arg == "name"]
    for value in candidates:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value.value
    return None


def _callee(expr: ast.expr) -> str:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return ""


def _registers(node: ast.AST) -> bool:
    """A use of a registration function (``register_*``) or of a registry's ``add``/``register``."""
    if isinstance(node, ast.Name):
        return node.id.startswith("register_")
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.attr.startswith("register_") or (node.value.id in REGISTRIES and node.attr in ("add", "register"))
    return False
