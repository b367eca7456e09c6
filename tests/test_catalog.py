"""The catalog (catalog.py): every registered task and model has its spec and every spec
names a registered class; built-in models declare their code version and a plugin's is
hashed from its source."""

from memorybench import catalog
from memorybench.tasks import TASKS


def test_spec_files_and_registered_names_match_one_to_one():
    """Every registered task and model has its spec, and every spec names a registered
    class (a variant through its ``type``)."""
    from memorybench.baselines import BASELINES
    from memorybench.models import MODELS

    tasks, models = catalog.spec_files("tasks"), catalog.spec_files("models")
    assert tasks and models
    assert set(TASKS.names()) <= set(tasks)
    assert set(MODELS.names()) <= set(models)
    for name in tasks:
        assert catalog.task_spec(name).get("type", name) in TASKS.names(), name
    for name in models:
        assert catalog.model_spec(name).get("type", name) in MODELS.names(), name
    assert not set(BASELINES.names()) & set(models)


def test_builtin_code_versions_are_declared_and_a_plugin_is_hashed():
    from memorybench.models import MODELS
    from memorybench.models.recurrent import Elman

    versions = {n: catalog.fingerprint(MODELS.get(n)) for n in MODELS.names()}
    assert all(isinstance(v, int) and v >= 1 for v in versions.values()), versions
    assert versions["orthogonal"] == versions["attention"] == 2  # their bumps (see each)

    class Local(Elman):
        pass

    Local.__module__ = "somewhere_else"
    assert str(catalog.fingerprint(Local)).startswith("sha256:")
