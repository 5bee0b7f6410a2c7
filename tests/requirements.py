"""``requirements.txt`` is generated from ``pyproject.toml``'s dependencies, the one list of them:
``python tests/requirements.py`` rewrites it, and ``tests/test_docs.py`` fails when the two disagree."""

import pathlib
import tomllib

REPO = pathlib.Path(__file__).resolve().parents[1]
HEADER = ("# Generated from pyproject.toml's [project] dependencies by `python tests/requirements.py`; do not edit.\n"
          "# `pip install -r requirements.txt` installs the same packages as `pip install .`, without the package.\n")


def dependencies():
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]


def render():
    """The file's text: the header, then one requirement per line, in pyproject's order."""
    return HEADER + "".join(f"{requirement}\n" for requirement in dependencies())


if __name__ == "__main__":
    (REPO / "requirements.txt").write_text(render(), encoding="utf-8")
    print(f"wrote {REPO / 'requirements.txt'}")
