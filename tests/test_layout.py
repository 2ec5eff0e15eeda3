"""The package's layout rules that import-linter cannot check: no module uses another module's
`_private` names, nor Keras', TensorFlow's or Typer's."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import ganctl

PACKAGE = Path(ganctl.__file__).parent

# Known offenders, each `path: name` as reported below. Drop an entry when its use is gone; the
# second test fails until the list is current.
ALLOWED = {
    # Typer >= 0.24 parses with its own vendored Click and re-exports only BadParameter, Exit,
    # Abort and TyperException from it. main() must tell Click's UsageError (exit 2, with a
    # --help hint) and NoArgsIsHelpError (exit 0) from other ClickExceptions, and no public name
    # reaches those classes; catching every TyperException and switching on the class name
    # would be the same dependency, hidden. cli/app.py falls back to `click` for older Typer.
    "cli/app.py: typer._click",
}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private_prefix(dotted: str) -> str | None:
    """`typer._click` for `typer._click.exceptions`: the path up to its first private part."""
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if _is_private(part):
            return ".".join(parts[: i + 1])
    return None


def _private_uses(path: Path) -> set[str]:
    """Private names that `path` takes from elsewhere: `from M import _x` for any other module
    M, a private module (`import M._x`, `from M._x import y`), and `obj._x` on anything but
    `self`, `cls` or a function or class defined in `path` itself (a function's own attribute)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path)
    own = {node.name for node in ast.walk(tree)
           if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = here.split(".")
                keep = len(package) - node.level + (path.name == "__init__.py")
                module = ".".join([*package[:keep], *([module] if module else [])])
            if module != here:
                found |= {f"{module}.{alias.name}" for alias in node.names
                          if _is_private(alias.name)}
            found |= {_private_prefix(module)} - {None}
        elif isinstance(node, ast.Import):
            found |= {_private_prefix(alias.name) for alias in node.names} - {None}
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and (owner.id in ("self", "cls") or owner.id in own):
                continue
            found.add(f"{ast.unparse(owner)}.{node.attr}")
    return found


def _all_uses() -> set[str]:
    return {f"{path.relative_to(PACKAGE).as_posix()}: {name}"
            for path in sorted(PACKAGE.rglob("*.py")) for name in _private_uses(path)}


def test_no_module_uses_another_modules_private_names():
    new = sorted(_all_uses() - ALLOWED)
    assert new == [], ("private names used across modules; make them public (drop the "
                       "underscore) where another module needs them, or pass what is needed: "
                       + "; ".join(new))


def test_the_list_of_known_offenders_is_current():
    gone = sorted(ALLOWED - _all_uses())
    assert gone == [], "no longer used, remove from ALLOWED in tests/test_layout.py: " + "; ".join(gone)


def test_the_checker_finds_each_kind_of_use(tmp_path, monkeypatch):
    pkg = tmp_path / "ganctl"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "sub" / "mod.py").write_text(
        "from ganctl.other import _helper, public\n"
        "from . import _sibling\n"
        "from .same import _x\n"
        "import ganctl.other._impl\n"
        "from typer._click import exceptions\n"
        "import ganctl.events as events\n"
        "def own():\n"
        "    own._done = True\n"
        "class Thing:\n"
        "    def go(self, model):\n"
        "        self._mine = cls_ok = 1\n"
        "        return events._quiet, model._flatten_layers(), self._mine, Thing._counter\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    assert _private_uses(pkg / "sub" / "mod.py") == {
        "ganctl.other._helper", "ganctl.sub._sibling", "ganctl.sub.same._x", "ganctl.other._impl",
        "typer._click", "events._quiet", "model._flatten_layers"}
