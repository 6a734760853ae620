#!/usr/bin/env python3
"""Pastes charts/crossdeploy/files/health.lua into the argocd-cm snippet of
charts/crossdeploy/README.md (once per kind). tests/argocd_health.rs fails
until the snippet matches the file; run this after editing the script."""

import re
from pathlib import Path

root = Path(__file__).resolve().parent.parent
script = (root / "charts/crossdeploy/files/health.lua").read_text()
readme_path = root / "charts/crossdeploy/README.md"
readme = readme_path.read_text()
indented = "".join("    " + line if line.strip() else "\n" for line in script.splitlines(keepends=True))
pattern = re.compile(
    r"(  resource\.customizations\.health\.crossdeploy\.io_\w+: \|\n)((?:    .*\n|\n)+?)(?=  \S|```)"
)
readme, n = pattern.subn(lambda m: m.group(1) + indented, readme)
if n == 0:
    raise SystemExit("no argocd-cm snippet found in charts/crossdeploy/README.md")
readme_path.write_text(readme)
print(f"updated {n} copies")
