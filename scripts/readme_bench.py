"""Copy the latest bench/results.md table into the README (between the bench markers)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    md = (ROOT / "bench" / "results.md").read_text().splitlines()
    machine = next(line for line in md if line.startswith("Machine:"))
    table = [line for line in md if line.startswith("|")]
    block = "<!-- bench:start -->\n" + machine + "\n\n" + "\n".join(table) + "\n<!-- bench:end -->"
    readme = ROOT / "README.md"
    text = re.sub(r"<!-- bench:start -->.*?<!-- bench:end -->", lambda _m: block, readme.read_text(), flags=re.S)
    readme.write_text(text)


if __name__ == "__main__":
    main()
