"""Assemble README.md from the sections in docs/readme/ (one file per feature area).

Each area keeps its README text next to the others so it can be edited alone;
this script puts them in reading order. Run it after editing any section.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ROOT / "docs" / "readme"
ORDER = [
    "_top.md",
    "demo.md",
    "_quick.md",
    "_messages.md",
    "_settings.md",
    "routing.md",
    "logs.md",
    "metrics.md",
    "reliability.md",
    "security.md",
    "gateway.md",
    "performance.md",
    "_how.md",
    "_libs.md",
    "_development.md",
]


def main() -> None:
    chunks = []
    for name in ORDER:
        text = (SECTIONS / name).read_text(encoding="utf-8")
        text = re.sub(r"^<!--.*?-->\s*", "", text, flags=re.S)  # authoring notes
        chunks.append(text.strip() + "\n")
    (ROOT / "README.md").write_text("\n".join(chunks), encoding="utf-8")


if __name__ == "__main__":
    main()
