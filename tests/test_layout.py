"""The package layout holds: elaborating hardware loads only the specs, never an analog
simulator or an ML library, and the golden models import nothing but numpy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = ("model.analog", "model.flow", "sklearn", "torch", "aihwkit", "cocotb", "scipy")


def modules_loaded_by(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True, text=True, cwd=REPO, check=True,
    ).stdout  # fmt: skip
    return set(out.split())


@pytest.mark.parametrize(
    "block", ["nmpu", "sar", "serializer", "tile", "verilog", "lane_unit", "fp16.unit"]
)
def test_hardware_imports_only_specs(block):
    loaded = modules_loaded_by(f"import hw.{block}")
    bad = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN or m.startswith(FORBIDDEN))
    assert not bad, f"hw.{block} loads {bad}"


def test_golden_models_import_only_numpy():
    loaded = modules_loaded_by("import model.golden.nmpu, model.golden.sar, model.golden.tile")
    bad = sorted(m for m in loaded if m.split(".")[0] in ("amaranth", *FORBIDDEN))
    bad += sorted(m for m in loaded if m.startswith(FORBIDDEN))
    assert not bad, f"model.golden loads {bad}"


# ------------------------------------------------------------- the folders' import order
#: Folders from the bottom up. A module may import from its own folder and from folders
#: of a lower rank; folders of equal rank are siblings and never import each other.
RANKS = {
    "model.files": 0,  # atomic file writing: stdlib-only, used by every layer
    "model.golden": 0,
    "model.analog": 1,
    "model.flow": 2,
    "model": 3,  # the public model API (model/nmpu.py, ...): wrappers over the three above
    "hw": 4,
    "tb.stimulus": 5,
    "tb.stream": 6,
    "tb.pysim": 7,
    "tb.harness": 7,
    "tb.benches": 8,
    "tb.harness_benches": 8,
    "tb.runner": 9,
    "flows": 10,
    "tools": 11,
}
PACKAGES = ("model", "hw", "tb", "flows", "tools")


def folder_of(module: str) -> str:
    """The RANKS folder a dotted module name belongs to (its longest listed prefix)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in RANKS:
            return ".".join(parts[:n])
    raise KeyError(f"{module} is in no folder of RANKS: add its folder")


def project_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of a project module in ``path`` (relative imports as
    written, with their leading dots)."""
    import ast

    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.lineno, "." * node.level + (node.module or "")))
    return [(n, m) for n, m in out if m.startswith(".") or m.split(".")[0] in PACKAGES]


def source_modules() -> list[tuple[str, Path]]:
    out = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            if parts in ((package,),) and package not in RANKS:
                assert not project_imports(path), f"{path} imports project modules"
                continue  # a top-level package's docstring (tb/__init__.py): no rank needed
            out.append((".".join(parts), path))
    return out


def test_every_module_has_a_folder_rank():
    for module, _ in source_modules():
        folder_of(module)  # raises for a module outside every listed folder


def upward_imports(module: str, path: Path) -> list[str]:
    """The imports of ``module`` (file ``path``) that run up or sideways between folders."""
    mine, bad = folder_of(module), []
    for line, imported in project_imports(path):
        if imported.startswith("."):  # resolve against this module's package
            level = len(imported) - len(imported.lstrip("."))
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            base = package[: len(package) - level + 1]
            imported = ".".join([*base, imported.lstrip(".")]).rstrip(".")
        theirs = folder_of(imported)
        if theirs != mine and RANKS[theirs] >= RANKS[mine]:
            bad.append(f"{path}:{line}: {mine} imports {imported}")
    return bad


def test_no_import_runs_back_up_or_sideways():
    """tools > flows > tb.runner > tb benches > tb harness/pysim > tb stream > tb stimulus >
    hw > model (public API > flow > analog > golden): imports only run down."""
    bad = [b for module, path in source_modules() for b in upward_imports(module, path)]
    assert not bad, "imports that run up or sideways:\n" + "\n".join(bad)


def test_checker_catches_upward_and_sideways_imports(tmp_path):
    """The rule above can fail: hw importing tb, and a per-clock bench importing a harness
    bench (siblings), are reported; imports from below are not."""
    path = tmp_path / "bad.py"
    path.write_text("import numpy\nfrom tb.runner import run_bench\nfrom model.nmpu import nmpu\n")
    assert upward_imports("hw.bad", path) == [f"{path}:2: hw imports tb.runner"]
    path.write_text("from tb.harness_benches.bulk import BulkRun\nfrom tb.stream import bench\n")
    assert upward_imports("tb.benches.bad", path) == [
        f"{path}:1: tb.benches imports tb.harness_benches.bulk"
    ]


def test_tests_use_the_library_not_the_commands():
    """Tests import library modules; from ``tools`` only a command's ``main`` (to test the
    command line itself)."""
    import ast

    bad = []
    for path in sorted((REPO / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tools":
                names = {a.name for a in node.names}
                if node.module == "tools" or names - {"main"}:
                    bad.append(f"{path.name}:{node.lineno}: from {node.module} import {names}")
            elif isinstance(node, ast.Import):
                bad += [
                    f"{path.name}:{node.lineno}: import {a.name}"
                    for a in node.names
                    if a.name.split(".")[0] == "tools"
                ]
    assert not bad, "tests importing tools' internals:\n" + "\n".join(bad)


def test_public_model_names_have_one_import_path():
    """Outside ``model/``, a name the public model API exports (``model.nmpu``, ``model.sar``,
    ``model.fp16``, ``model.capture``) is imported from it, never from its implementation."""
    import ast

    owner = {}  # (implementing module, name) -> public module: read off its imports
    for public in ("model.nmpu", "model.sar", "model.fp16", "model.capture"):
        tree = ast.parse((REPO / (public.replace(".", "/") + ".py")).read_text())
        exported = next(
            ast.literal_eval(node.value)
            for node in tree.body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__"
        )
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("model."):
                owner.update(
                    {(node.module, a.name): public for a in node.names if a.name in exported}
                )
    assert ("model.golden.nmpu", "NMPUConfig") in owner and len(owner) > 20, owner
    bad = []
    paths = [
        p
        for package in ("hw", "tb", "flows", "tools", "tests")
        for p in (REPO / package).rglob("*.py")
    ]
    for path in sorted(paths):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    public = owner.get((node.module, alias.name))
                    if public and public != node.module:
                        bad.append(f"{path.relative_to(REPO)}:{node.lineno}: {alias.name} from "
                                   f"{node.module}, not {public}")  # fmt: skip
    assert not bad, "\n".join(bad)
