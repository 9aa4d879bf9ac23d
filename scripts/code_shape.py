"""The shape of the package, in the figures the redesign is measured by.

    python scripts/code_shape.py [PACKAGE_DIR]

Prints the largest modules by line count, every function or method with more than
six parameters (``self``/``cls`` not counted), and how often ``dict[str, Any]``
appears, so a change of shape can be compared before and after.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

MAX_PARAMETERS = 6


def many_parameters(path: Path) -> list[tuple[str, int]]:
    """Functions in ``path`` with more than six parameters, with their counts."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
            names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
            count = len([n for n in names if n not in ("self", "cls")])
            if count > MAX_PARAMETERS:
                found.append((f"{path}:{node.lineno} {node.name}", count))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", nargs="?", type=Path, default=Path("autokeras_lab"))
    parser.add_argument("--top", type=int, default=5, help="largest modules to list")
    args = parser.parse_args()
    files = sorted(args.package.rglob("*.py"))
    sizes = sorted(((len(f.read_text(encoding="utf-8").splitlines()), f) for f in files),
                   reverse=True)
    print(f"modules: {len(files)}; largest:")
    for lines, path in sizes[: args.top]:
        print(f"  {lines:5d}  {path}")
    wide = [item for f in files for item in many_parameters(f)]
    print(f"functions with more than {MAX_PARAMETERS} parameters: {len(wide)}")
    for name, count in wide:
        print(f"  {count:2d}  {name}")
    loose = sum(f.read_text(encoding="utf-8").count("dict[str, Any]") for f in files)
    print(f"dict[str, Any]: {loose}")


if __name__ == "__main__":
    main()
