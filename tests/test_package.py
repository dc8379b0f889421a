"""The package's shape: fast import, lazy heavy libraries, and layers that only import downwards."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "riffnb"

# The pipeline, bottom to top; a module may import only from its own layer or below.
LAYERS = {
    "errors": 0, "params": 0, "_lazy": 0,
    "audio": 1, "stft": 1, "synth": 1, "clips": 1,
    "mel": 2,
    "image": 3,
    "phase": 4, "phase_torch": 4,
    "spectrogram": 5,
    "diffusion": 6, "train": 6,
    "plot": 7, "display": 7, "exercises": 7, "widgets": 7,
    "cli": 8, "cli_diffusion": 8, "__main__": 8,
}
NUMPY_ONLY_LAYER = 5  # these layers never import torch, diffusers or transformers (phase_torch is the torch path)
HEAVY = {"torch", "diffusers", "transformers"}


def layer_of(module_path: Path) -> tuple[str, int]:
    parts = module_path.relative_to(PACKAGE).with_suffix("").parts
    name = parts[0] if parts[0] != "__init__" else "__init__"
    return name, LAYERS.get(name, -1)


def imports_of(module_path: Path):
    """(riffnb top-level module names, third-party top-level names) imported anywhere in the file."""
    tree = ast.parse(module_path.read_text())
    package_parts = module_path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    own, external = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (own if alias.name.startswith("riffnb.") else external).add(
                    alias.name.split(".")[1] if alias.name.startswith("riffnb.") else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package_parts[: len(package_parts) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                if len(target) > 1:
                    own.add(target[1])
                else:
                    own.update(alias.name for alias in node.names)
            elif node.module and node.module.split(".")[0] == "riffnb":
                own.add(node.module.split(".")[1])
            elif node.module:
                external.add(node.module.split(".")[0])
    return own, external


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_only_import_downwards(path):
    name, layer = layer_of(path)
    assert layer >= 0, f"{name} has no layer: add it to LAYERS (and to CONTRIBUTING.md)"
    own, external = imports_of(path)
    upward = {other for other in own if LAYERS.get(other, -1) > layer}
    assert not upward, f"{path.name} (layer {layer}) imports higher layers: {sorted(upward)}"
    if layer <= NUMPY_ONLY_LAYER and name != "phase_torch":
        assert not external & HEAVY, f"{path.name} imports {sorted(external & HEAVY)}"


def test_import_riffnb_is_fast_and_light():
    code = (
        "import sys, time; t = time.perf_counter(); import riffnb; elapsed = time.perf_counter() - t; "
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers', 'matplotlib', 'librosa', 'scipy') "
        "if m in sys.modules); print(elapsed, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(maxsplit=1)
    assert out[1].strip() == "[]"
    assert float(out[0]) < 0.5


def test_submodules_are_not_shadowed_by_exports():
    import riffnb
    import riffnb.stft

    assert riffnb.stft is sys.modules["riffnb.stft"]
    assert callable(riffnb.stft.stft)
    assert riffnb.SpectrogramParams().n_fft == 17640
    with pytest.raises(AttributeError, match="no attribute"):
        riffnb.not_a_name


def test_importing_riffnb_makes_torch_wait_passively_unless_told_otherwise():
    code = "import os, riffnb, torch; print(os.environ['OMP_WAIT_POLICY'])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}).stdout.strip() == "PASSIVE"
    chosen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "OMP_WAIT_POLICY": "ACTIVE"})
    assert chosen.stdout.strip() == "ACTIVE"
