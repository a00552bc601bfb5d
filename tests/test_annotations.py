"""No module of app/ imports typing when it runs: the login path is spared typing's import and its
NamedTuple classes (about 8 ms of every login).

Each module says ``from __future__ import annotations`` (annotations stay text), imports typing's names under
``if TYPE_CHECKING:`` (TYPE_CHECKING = False, which the type checker reads as true), and declares records
with app.system.record.Record.
"""

import ast
from pathlib import Path
from typing import Iterator, List, Tuple

ROOT = Path(__file__).resolve().parent.parent


def is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of tree that runs when the module is imported or called: all but TYPE_CHECKING blocks."""
    pending: List[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        yield node
        pending.extend(child for child in ast.iter_child_nodes(node) if not is_type_checking_block(child))


def typing_imports(tree: ast.AST) -> List[int]:
    """Lines that import typing (or a name from it) outside a TYPE_CHECKING block."""
    return sorted(node.lineno for node in runtime_nodes(tree)
                  if isinstance(node, ast.Import) and any(alias.name == "typing" for alias in node.names)
                  or isinstance(node, ast.ImportFrom) and node.module == "typing")


def app_modules() -> Iterator[Tuple[str, ast.Module]]:
    for path in sorted((ROOT / "app").rglob("*.py")):
        yield str(path.relative_to(ROOT)), ast.parse(path.read_text(encoding="utf-8"))


def test_no_module_of_app_imports_typing_when_it_runs() -> None:
    found = {name: lines for name, tree in app_modules() if (lines := typing_imports(tree))}
    assert found == {}, "import typing's names under `if TYPE_CHECKING:` (app/system/record.py says why)"


def test_every_module_of_app_that_annotates_keeps_its_annotations_as_text() -> None:
    missing = [name for name, tree in app_modules()
               if any(isinstance(node, (ast.AnnAssign, ast.FunctionDef)) for node in ast.walk(tree))
               and not any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
                           and any(alias.name == "annotations" for alias in node.names) for node in tree.body)]
    assert missing == []


def test_the_checks_see_a_typing_import_outside_the_block_and_not_inside() -> None:
    inside = ast.parse("TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from typing import List\n")
    outside = ast.parse("import os\nfrom typing import List\ndef f():\n    import typing\n")
    assert (typing_imports(inside), typing_imports(outside)) == ([], [2, 4])
