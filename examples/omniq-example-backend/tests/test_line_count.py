"""The in-process example is all four roles in under 200 lines of code (the kit's promise)."""

from pathlib import Path

import omniq_example_backend

FOUR_ROLES = ("__init__.py", "options.py", "plugin.py", "store.py")


def code_lines(path: Path) -> int:
    """Lines that are neither blank nor comments (docstrings count)."""
    return sum(
        1
        for line in path.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    )


def test_the_example_backend_is_under_200_lines_for_four_roles() -> None:
    package = Path(omniq_example_backend.__file__).parent
    count = sum(code_lines(package / name) for name in FOUR_ROLES)
    assert 0 < count < 200, f"{count} lines"


def test_the_json_file_backend_is_under_200_lines_too() -> None:
    package = Path(omniq_example_backend.__file__).parent
    assert 0 < code_lines(package / "jsonfile.py") < 200
