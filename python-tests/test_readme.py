"""The README's Python example runs as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLE = re.compile(
    r"<!-- python-example -->\s*```python\n(?P<code>.*?)```\s*<!-- /python-example -->", re.DOTALL
)


def readme_example() -> str:
    match = EXAMPLE.search(README.read_text(encoding="utf-8"))
    assert match, "README.md has no ```python block between the python-example markers"
    return match["code"]


def test_the_readme_python_example_is_short() -> None:
    lines = [line for line in readme_example().splitlines() if line.strip()]
    assert len(lines) <= 12


def test_the_readme_python_example_runs_and_prints_what_it_promises() -> None:
    printed = io.StringIO()

    with contextlib.redirect_stdout(printed):
        exec(compile(readme_example(), str(README), "exec"), {"__name__": "readme"})  # noqa: S102

    lines = printed.getvalue().splitlines()
    assert lines[0].startswith("1 ")
    assert lines[1].startswith("held by alice until ")
    assert lines[2].startswith("Release(")
    assert "released=True" in lines[2]
