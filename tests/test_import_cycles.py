"""No import cycles inside ``bcl_core``.

The graph is read from the source with :mod:`ast` (nothing is imported): one node per module,
an edge for every import of another ``bcl_core`` module anywhere in it, including imports
deferred into a function body (a deferred import is how a circle hides, as
``train/feature_maps`` -> ``train/fusion_data`` -> ``train/fusion`` -> ``train/feature_maps``
once did). Imports under ``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _module_names(package_dir: Path) -> dict[str, Path]:
    """Dotted name -> file for every module and package ``__init__`` under ``package_dir``."""
    names: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree`` outside ``if TYPE_CHECKING:`` blocks."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        children = list(ast.iter_child_nodes(node))
        if _is_type_checking_block(node):
            assert isinstance(node, ast.If)
            children = list(node.orelse)
        stack.extend(children)


def _imported_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool
                    ) -> list[str]:
    """Dotted names ``node`` may refer to (``from a import b``: ``a.b``, which may be a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[:len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, *([node.module] if node.module else [])])
    return [f"{base}.{alias.name}" for alias in node.names]


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (anywhere in its source)."""
    modules = _module_names(package_dir)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _import_nodes(tree):
            for target in _imported_names(node, name, path.name == "__init__.py"):
                while target and target not in modules:  # a.b.function -> a.b
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (first module repeated at the end), or None."""
    state: dict[str, str] = {}  # "open" while on the depth-first path, then "done"
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def _write_package(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_bcl_core_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph(REPO_ROOT / "bcl_core"))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_a_cycle_through_a_deferred_import_is_found(tmp_path: Path) -> None:
    # The shape of the old train/ circle: maps -> data and data -> train inside functions,
    # train -> maps at module level.
    package = _write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "",
        "pkg/sub/maps.py": "def crop():\n    from pkg.sub.data import settings\n",
        "pkg/sub/data.py": "settings = 1\ndef build():\n    from pkg.sub.train import CropSet\n",
        "pkg/sub/train.py": "from .maps import crop\nclass CropSet: ...\n",
    })
    cycle = find_cycle(import_graph(package))
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"pkg.sub.maps", "pkg.sub.data", "pkg.sub.train"}


def test_relative_submodule_and_package_imports_resolve(tmp_path: Path) -> None:
    package = _write_package(tmp_path, {
        "pkg/__init__.py": "from pkg.a import x\n",
        "pkg/a.py": "from . import b\nx = 1\n",
        "pkg/b.py": "import numpy\nfrom pkg import c\nfrom typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n    from pkg.a import x\n",
        "pkg/c.py": "",
    })
    graph = import_graph(package)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": set()}
    assert find_cycle(graph) is None


def test_a_package_importing_a_module_that_imports_the_package_is_a_cycle(tmp_path: Path
                                                                           ) -> None:
    package = _write_package(tmp_path, {
        "pkg/__init__.py": "from pkg.a import x\nCONSTANT = 2\n",
        "pkg/a.py": "from pkg import CONSTANT\nx = CONSTANT\n",
    })
    assert find_cycle(import_graph(package)) == ["pkg", "pkg.a", "pkg"]
