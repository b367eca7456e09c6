import sys
import textwrap

import pytest

from memorybench.errors import UserError
from memorybench.models import MODELS
from memorybench.models.base import Core
from memorybench.registry import Registry
from memorybench.tasks import TASKS
from memorybench.tasks.base import Task


def test_unknown_name_suggests_the_closest_and_lists_all():
    with pytest.raises(UserError) as err:
        MODELS.get("lstn")
    message = str(err.value)
    assert message.startswith("unknown model 'lstn'; did you mean 'lstm'? known: ")
    assert "elman" in message and "gru" in message and "\n" not in message


def test_unknown_name_without_a_close_match_still_lists_known():
    with pytest.raises(UserError, match=r"unknown task 'zzzz'; known: .*adding"):
        TASKS.get("zzzz")


def test_duplicate_registration_fails():
    registry = Registry("model", "memorybench.test-none", Core)

    @registry.register("twin")
    class One(Core):
        pass

    with pytest.raises(UserError, match="'twin' is already registered"):
        @registry.register("twin")
        class Two(Core):
            pass

    assert registry.get("twin") is One


def test_registration_checks_the_base_class():
    registry = Registry("task", "memorybench.test-none", Task)
    with pytest.raises(UserError, match="subclass of Task"):
        registry.register("bad")(dict)


def test_entry_point_plugins_register_without_editing_the_package(tmp_path, monkeypatch):
    """A third-party distribution on the path adds a model through its entry point."""
    (tmp_path / "thirdparty_mb.py").write_text(textwrap.dedent("""
        from memorybench.models.recurrent import Elman

        class Mine(Elman):
            description = "a third-party model"
    """))
    info = tmp_path / "thirdparty_mb-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-mb\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[memorybench.models]\nmine = thirdparty_mb:Mine\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("model", "memorybench.models", Core)
    assert "mine" in registry.names()
    assert registry.get("mine").description == "a third-party model"
    sys.modules.pop("thirdparty_mb", None)


def test_builtins_are_registered():
    assert {"adding", "copy"} <= set(TASKS.names())
    assert {"elman", "lstm", "gru"} <= set(MODELS.names())
