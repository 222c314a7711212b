"""The repository's layout as the README and the docs describe it.

* ``benchmarks/`` holds the scripts behind the figures the product quotes; studies of the
  generator or of a model live in ``research/`` (issue 17 names them).
* Every ``benchmarks/*.py`` or ``research/*.py`` path that a doc, a script or a test names exists,
  and every relative link between the docs resolves.
* The README's layout table names every top-level module and subpackage of ``bcl_core``, and
  ``research/``.
* No test skips when one of the project's own modules or a pinned requirement is missing: that
  is an error, not a skip.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The research scripts issue 17 moves out of ``benchmarks/``: they study the generator or a
#: model and are behind no figure the product quotes.
RESEARCH_SCRIPTS = (
    "fusion_vein_detector", "fusion_ceilings", "fusion_latent_probe",
    "fusion_feature_visibility", "fusion_detector_auroc", "fusion_feature_detector",
    "body_centre_agreement", "seg_target_ceiling",
)

SCRIPT_PATH = re.compile(r"\b((?:benchmarks|research)/[A-Za-z0-9_]+\.py)\b")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _texts_naming_scripts() -> list[Path]:
    docs = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
    code = [path for folder in ("bcl_core", "benchmarks", "research", "tests", "scripts")
            for path in sorted((REPO_ROOT / folder).rglob("*")) if path.suffix in (".py", ".sh")]
    return docs + code


def _readme_section(title: str) -> str:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


@pytest.mark.parametrize("name", RESEARCH_SCRIPTS)
def test_research_scripts_live_in_research(name: str) -> None:
    assert (REPO_ROOT / "research" / f"{name}.py").is_file()
    assert not (REPO_ROOT / "benchmarks" / f"{name}.py").exists()


def test_every_named_script_exists() -> None:
    missing = sorted({f"{path.relative_to(REPO_ROOT)}: {name}"
                      for path in _texts_naming_scripts()
                      for name in SCRIPT_PATH.findall(path.read_text(encoding="utf-8"))
                      if not (REPO_ROOT / name).is_file()})
    assert not missing, "scripts named but not there:\n" + "\n".join(missing)


def test_links_between_docs_resolve() -> None:
    broken = []
    for doc in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]:
        for target in MARKDOWN_LINK.findall(doc.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(REPO_ROOT)}: {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_readme_layout_names_every_bcl_core_module_and_research() -> None:
    table = _readme_section("Layout")
    named = set()
    for row in table.splitlines():
        cells = row.split("|")
        if len(cells) > 2:
            for token in re.findall(r"`([^`]+)`", cells[1]):
                named.add(token.removeprefix("bcl_core/").rstrip("/"))
    package = REPO_ROOT / "bcl_core"
    modules = {path.name for path in package.glob("*.py") if path.name != "__init__.py"}
    subpackages = {path.parent.name for path in package.glob("*/__init__.py")}
    missing = sorted((modules | subpackages) - named)
    assert not missing, "README layout table lacks: " + ", ".join(missing)
    assert "research" in named


def _pinned_requirements() -> set[str]:
    """Import names of the packages ``requirements.txt`` pins (``onnxruntime-gpu``: onnxruntime)."""
    names = set()
    for line in (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*==", line)
        if match:
            name = match.group(1).lower().replace("-", "_")
            names.add(name.removesuffix("_gpu"))
    return names


def test_no_test_skips_on_a_missing_project_module_or_pinned_requirement() -> None:
    required = _pinned_requirements() | {"bcl_core"}
    assert {"torch", "onnxruntime"} <= required  # the parse above found the pins
    skips = []
    for path in sorted((REPO_ROOT / "tests").rglob("*.py")):
        for module in re.findall(r"importorskip\(\s*[\"']([^\"']+)[\"']",
                                 path.read_text(encoding="utf-8")):
            if module.split(".")[0].lower() in required:
                skips.append(f"{path.relative_to(REPO_ROOT)}: importorskip({module!r})")
    assert not skips, "import these plainly:\n" + "\n".join(skips)
