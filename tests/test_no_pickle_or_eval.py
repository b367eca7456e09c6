"""Stored data is only ever parsed, never executed or unpickled."""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "memorybench"
UNSAFE = re.compile(r"\bpickle\b|torch\.load\(|joblib\.load\(|(?<![.\w])eval\(|(?<![.\w])exec\(|"
                    r"pd\.read_pickle|allow_pickle\s*=\s*True")


def test_no_code_path_deserializes_with_pickle_or_evaluates_text():
    offenders = [f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
                 for path in PACKAGE.rglob("*.py")
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if UNSAFE.search(line)]
    assert offenders == []


def test_the_check_would_catch_an_unpickling_line():
    assert UNSAFE.search("rows = pickle.loads(blob)")
    assert UNSAFE.search("state = torch.load(path)")
    assert UNSAFE.search("value = eval(text)")
    assert not UNSAFE.search("model.eval()")
