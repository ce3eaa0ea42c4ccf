"""Folders the knowledge base tests index: English, Chinese, code, a .gitignore, a binary."""

from __future__ import annotations

from pathlib import Path

import pytest

from chattui.kb.bases import KnowledgeBases


def make_notes(root: Path) -> Path:
    notes = root / "notes"
    (notes / "zh").mkdir(parents=True)
    (notes / "src").mkdir()
    (notes / "install.md").write_text(
        "# Installing\n\n## Linux\n\nRun pip install in a virtual environment; the embedded"
        " model needs no download.\n\n## Windows\n\nUse WSL for now.\n"
    )
    (notes / "rivers.txt").write_text(
        "The Loire is the longest river in France.\n\nIts valley is famous for castles.\n"
    )
    (notes / "zh" / "说明.md").write_text(
        "# 安装说明\n\n在 Linux 上运行 pip 安装软件包。模型文件已经包含在软件包里，不需要下载。\n\n"
        "# 常见问题\n\n如果启动很慢，请检查磁盘空间。\n"
    )
    (notes / "src" / "geometry.py").write_text(
        'import math\n\n\ndef circle_area(radius):\n    """Area of a circle."""\n'
        '    return math.pi * radius ** 2\n\n\nclass Polygon:\n    """A closed shape."""\n'
    )
    (notes / ".gitignore").write_text("private/\n*.log\n")
    (notes / "private").mkdir()
    (notes / "private" / "diary.md").write_text("The password is swordfish.\n")
    (notes / "debug.log").write_text("swordfish appears in the log too\n")
    (notes / "photo.bin").write_bytes(bytes(range(256)) * 4)
    return notes


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    return make_notes(tmp_path / "docs")


@pytest.fixture
def bases(tmp_path: Path) -> KnowledgeBases:
    return KnowledgeBases(tmp_path / "kb")
