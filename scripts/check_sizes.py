"""`make lint`: no class over 250 lines and no function over 60 in cartrack_desktop/, unless the line
that opens it (or the line above) says why with a `# size:` comment.

Long units hide more than one job; the Architecture issue set these limits (qutebrowser's
scripts/dev/misc_checks.py is the model: a small project-specific check in CI).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_CLASS_LINES = 250
MAX_FUNCTION_LINES = 60
REASON = "# size:"


def oversized(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        if not isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        said = any(REASON in lines[i - 1] for i in (first - 1, first, node.lineno) if 0 < i <= len(lines))
        if length > limit and not said:
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            found.append(f"{path}:{node.lineno}: {kind} {node.name} has {length} lines (limit {limit}); "
                         f"split it, or say why with a '{REASON} …' comment")
    return found


def main(roots: list[str]) -> int:
    problems = [p for root in roots for f in sorted(Path(root).rglob("*.py")) for p in oversized(f)]
    for p in problems:
        print(p)  # noqa: T201 - a lint tool's report
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["cartrack_desktop"]))
