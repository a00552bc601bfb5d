"""The packages of app/ by role: none imports a package above it, and the package graph has no cycle.

Every import counts: at module level, inside a function, under ``if TYPE_CHECKING:``. ``from app import
__version__`` (the package itself) is exempt. docs/development.md's Layout section states the same order.
"""

import ast
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent

# Bottom to top: a package may import only the packages of the groups before its own (and itself).
LAYERS: Tuple[Tuple[str, ...], ...] = (
    ("errors", "system"),
    ("rules",),
    ("settings",),
    ("channels",),
    ("logins",),
    ("store",),
    ("install",),
    ("watch",),
    ("check",),
    ("commands",),
    ("cli", "arguments", "entry", "__main__"),
)
DOCUMENTED = "errors, system < rules < settings < channels < logins < store < install < watch < check < commands " \
             "< cli, arguments, entry"


class Edge(NamedTuple):
    """One import from a package (or top-level module) of app to another."""

    source: str  # the importing package
    target: str  # the imported package
    where: str  # path:line of the import
    module: str  # what it imports


def package_of(module: str) -> Optional[str]:
    """The package (or top-level module) of app that a dotted module name belongs to; None for app itself
    and for modules outside app."""
    parts = module.split(".")
    return parts[1] if parts[0] == "app" and len(parts) > 1 else None


def module_name(path: Path, root: Path) -> str:
    """app.store.store for <root>/app/store/store.py; app.store for its __init__.py."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(node: ast.AST, module: str, is_package: bool) -> List[str]:
    """The absolute names one import statement imports (a name taken from a package may be a submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(package[:len(package) - (node.level - 1)] + ([base] if base else []))
    if base == "app":  # `from app import store` imports a package; `from app import __version__` imports nothing
        return [base + "." + alias.name for alias in node.names]
    return [base]


def edges(root: Path) -> Iterator[Edge]:
    """Every import in root/app/**.py that crosses from one package of app to another."""
    for path in sorted((root / "app").rglob("*.py")):
        module = module_name(path, root)
        source = package_of(module)
        if source is None:
            continue
        tree = ast.parse(path.read_bytes(), str(path))
        for node in ast.walk(tree):
            for target_module in imported_modules(node, module, path.name == "__init__.py"):
                target = package_of(target_module)
                if target is not None and target != source and target != "__version__":
                    yield Edge(source, target, "{}:{}".format(path.relative_to(root), node.lineno), target_module)


def rank(package: str) -> int:
    for index, group in enumerate(LAYERS):
        if package in group:
            return index
    raise LookupError(package)


def upward(found: Sequence[Edge]) -> List[str]:
    """The edges from a package to one above it (or to one the order does not name), described."""
    problems = []
    for edge in found:
        try:
            if rank(edge.target) > rank(edge.source):
                problems.append("{}: {} imports {}, but {} is below {}".format(
                    edge.where, edge.source, edge.module, edge.source, edge.target))
        except LookupError as unknown:
            problems.append("{}: {} is not in LAYERS".format(edge.where, unknown))
    return problems


def cycle(found: Sequence[Edge]) -> List[str]:
    """One cycle of the package graph as the edges that close it, or [] when there is none."""
    graph: Dict[str, Dict[str, Edge]] = {}
    for edge in found:
        graph.setdefault(edge.source, {}).setdefault(edge.target, edge)
    done: Set[str] = set()

    def visit(package: str, path: List[str]) -> List[str]:
        if package in path:
            loop = path[path.index(package):] + [package]
            return ["{} -> {} ({})".format(a, b, graph[a][b].where) for a, b in zip(loop, loop[1:])]
        if package in done:
            return []
        for target in sorted(graph.get(package, {})):
            found_loop = visit(target, path + [package])
            if found_loop:
                return found_loop
        done.add(package)
        return []

    for package in sorted(graph):
        found_loop = visit(package, [])
        if found_loop:
            return found_loop
    return []


# --- the product ------------------------------------------------------------------------------------------

def test_no_package_of_app_imports_a_package_above_it() -> None:
    problems = upward(list(edges(ROOT)))
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_the_package_graph_of_app_has_no_cycle() -> None:
    loop = cycle(list(edges(ROOT)))
    assert not loop, "a cycle of packages:\n" + "\n".join(loop)


def test_every_package_of_app_has_its_place_in_the_layer_order() -> None:
    packages = {path.name for path in (ROOT / "app").iterdir() if (path / "__init__.py").exists()}
    modules = {path.stem for path in (ROOT / "app").glob("*.py") if path.name != "__init__.py"}
    placed = {name for group in LAYERS for name in group}
    assert packages | modules == placed, "not in LAYERS: {}; in LAYERS but gone: {}".format(
        sorted((packages | modules) - placed), sorted(placed - (packages | modules)))


def test_every_package_of_app_says_what_it_is_for_in_its_docstring() -> None:
    for init in sorted((ROOT / "app").glob("*/__init__.py")):
        docstring = ast.get_docstring(ast.parse(init.read_bytes()))
        assert docstring and "\n\n" not in docstring and len(docstring.split()) >= 12, \
            "{} needs a one-paragraph docstring".format(init)


def test_the_development_guide_states_the_same_layer_order() -> None:
    stated = " < ".join(", ".join(name for name in group if name != "__main__") for group in LAYERS)
    assert stated == DOCUMENTED
    layout = (ROOT / "docs" / "development.md").read_text(encoding="utf-8").split("## Layout", 1)[1]
    assert DOCUMENTED in " ".join(layout.split()), "docs/development.md's Layout section must state: " + DOCUMENTED


# --- the checker itself, on a made-up tree --------------------------------------------------------------------

def write_tree(root: Path, files: Dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "app" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_an_import_inside_a_function_of_a_lower_package_is_named_as_upward(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"__init__.py": "__version__ = '1'\n", "store/__init__.py": "", "check/__init__.py": "",
                                 "check/policy.py": "X = 1\n",
                                 "store/store.py": "def f():\n    from app.check.policy import X\n    return X\n"})
    assert upward(list(edges(root))) == [
        "app/store/store.py:2: store imports app.check.policy, but store is below check"]


def test_relative_and_package_imports_count_and_the_version_is_exempt(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"__init__.py": "__version__ = '1'\n", "rules/__init__.py": "from app import __version__\n",
                                 "rules/keys.py": "from ..settings import schema\n", "settings/__init__.py": "",
                                 "settings/schema.py": "from app import rules\nimport app.rules.keys\n"})
    assert [(edge.source, edge.target) for edge in edges(root)] == [
        ("rules", "settings"), ("settings", "rules"), ("settings", "rules")]
    assert upward(list(edges(root))) == [
        "app/rules/keys.py:1: rules imports app.settings, but rules is below settings"]


def test_a_cycle_between_packages_of_one_layer_is_named_edge_by_edge(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"system/__init__.py": "", "system/files.py": "from app.errors import E\n",
                                 "errors.py": "from app.system.files import F\n"})
    assert upward(list(edges(root))) == []
    assert cycle(list(edges(root))) == ["errors -> system (app/errors.py:1)", "system -> errors (app/system/files.py:1)"]
