"""The pyz's entry point: the collector is off while the command is imported, and on while it runs."""

import gc
import sys
from typing import Any, Iterator, List, Tuple

import pytest

from app import entry
from app.cli import main
from app.commands.result import Result


@pytest.fixture
def collector() -> Iterator[None]:
    """Leave the collector as the test found it: on, nothing frozen."""
    yield
    gc.unfreeze()
    gc.enable()


def test_the_entry_point_runs_its_command_with_the_collector_on_and_the_imports_frozen(
        collector: None, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: List[Tuple[bool, int]] = []

    def run(paths: Any, arguments: Any) -> Result:
        seen.append((gc.isenabled(), gc.get_freeze_count()))
        return Result()

    monkeypatch.setattr(sys, "argv", ["ssh_alert.pyz", "history"])
    monkeypatch.setattr("app.commands.history.run", run)
    assert entry.main() == 0
    (enabled, frozen), = seen
    assert enabled and frozen > 0


def test_a_call_from_inside_a_program_leaves_its_collector_alone(collector: None, capsys: pytest.CaptureFixture
                                                                 ) -> None:
    assert main(["help"]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == 0
