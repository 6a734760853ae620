#!/usr/bin/env python3
"""Lists the longest non-test functions in src/ and fails when one reaches
the limit (default 60 lines): long functions hide decisions that belong in a
named step. Test modules (`#[cfg(test)] mod tests`) are skipped."""

import re
import sys
from pathlib import Path

LIMIT = int(sys.argv[1]) if len(sys.argv) > 1 else 60
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def functions(path: Path):
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == "#[cfg(test)]":
            break  # test modules sit at the end of each file
        m = FN.match(line)
        if not m:
            i += 1
            continue
        depth, start, j, opened = 0, i, i, False
        while j < len(lines):
            code = re.sub(r'"(\\.|[^"\\])*"|//.*', "", lines[j])
            depth += code.count("{") - code.count("}")
            opened |= "{" in code
            if opened and depth <= 0:
                break
            if not opened and code.rstrip().endswith(";"):
                break  # a declaration without a body
            j += 1
        yield m.group(6), start + 1, j - start + 1
        i = j + 1


def main() -> int:
    found = sorted(
        ((n, f"{p}:{line}", name) for p in Path("src").rglob("*.rs") for name, line, n in functions(p)),
        reverse=True,
    )
    for n, where, name in found[:5]:
        print(f"{n:4} lines  {name}  {where}")
    too_long = [f for f in found if f[0] >= LIMIT]
    if too_long:
        print(f"{len(too_long)} function(s) reach {LIMIT} lines", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
