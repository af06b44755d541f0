"""Untrusted files and servers: safe weight loading, nothing unpickled from a dataset, no
Hydra ``_target_`` instantiation, the local Ray's dashboard off and bound to localhost.

The atlas escaping every label: tests/test_atlas.py::test_labels_and_names_are_escaped and
tests/test_atlas_browser.py::test_hostile_names_stay_text.
"""

from __future__ import annotations

import ast
import io
import pickle
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from pipeline.atlas import AtlasSettings, build
from pipeline.errors import ConfigError
from pipeline.runner import ClusterSettings, cluster
from pipeline.store import SweepStore, read_jobs, read_manifest, read_samples

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipeline"
PICKLERS = {"cloudpickle", "dill", "joblib", "shelve", "marshal", "jsonpickle"}
PICKLE_ERRORS = {"UnpicklingError", "PicklingError", "PickleError"}


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a name or attribute chain, else ''."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def unsafe_loads(source: str) -> list[str]:
    """What in ``source`` could unpickle: torch.load without weights_only=True, any use of
    pickle other than its exception classes, pickle-like modules, pandas/numpy pickles."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            kwargs = {k.arg: k.value for k in node.keywords}
            weights_only = kwargs.get("weights_only")
            if name == "torch.load" and not (
                isinstance(weights_only, ast.Constant) and weights_only.value is True
            ):
                found.append(f"line {node.lineno}: torch.load without weights_only=True")
            if name.endswith("read_pickle") or name in {"yaml.load", "yaml.unsafe_load"}:
                found.append(f"line {node.lineno}: {name}")
            pickled = kwargs.get("allow_pickle")
            if isinstance(pickled, ast.Constant) and pickled.value is True:
                found.append(f"line {node.lineno}: allow_pickle=True")
        elif isinstance(node, ast.Attribute) and dotted(node.value) == "pickle":
            if node.attr not in PICKLE_ERRORS:
                found.append(f"line {node.lineno}: pickle.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "pickle":
            found += [f"line {node.lineno}: from pickle import {a.name}" for a in node.names
                      if a.name not in PICKLE_ERRORS]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                node.module or ""]
            found += [f"line {node.lineno}: imports {m}" for m in modules
                      if m.split(".")[0] in PICKLERS]
    return found


def sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}


def test_the_checker_catches_unsafe_loads() -> None:
    bad = ("import torch, pickle, dill\nfrom pickle import loads\ntorch.load(p)\n"
           "torch.load(p, weights_only=False)\npickle.loads(b)\npd.read_pickle(p)\n"
           "np.load(p, allow_pickle=True)\n")
    assert len(unsafe_loads(bad)) == 7
    good = "import pickle\ntorch.load(p, weights_only=True)\nerror = pickle.UnpicklingError\n"
    assert unsafe_loads(good) == []


def test_package_loads_weights_only_through_safe_readers() -> None:
    problems = {path: found for path, text in sources().items() if (found := unsafe_loads(text))}
    assert problems == {}
    calls = [node for text in sources().values() for node in ast.walk(ast.parse(text))
             if isinstance(node, ast.Call) and dotted(node.func) == "torch.load"]
    assert calls  # the package does call torch.load (pipeline/zoo/checkpoints.py), safely


def test_nothing_in_a_dataset_is_unpickled(toy_dataset, tmp_path, monkeypatch) -> None:
    copy = shutil.copytree(toy_dataset, tmp_path / "copy")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("something was unpickled")

    for module, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"),
                         (torch, "load")]:
        monkeypatch.setattr(module, name, refuse)
    with SweepStore(copy, "s", {}) as store:  # opening checks every shard
        assert store.quarantined == []
    assert read_manifest(copy)["format"] == "inverse-set-sweep"
    assert read_jobs(copy).num_rows > 0 and read_samples(copy).num_rows > 0
    build(copy, tmp_path / "atlas", AtlasSettings(per_band=2), stream=io.StringIO())
    assert (tmp_path / "atlas" / "index.html").is_file()


def targets(node: object) -> list[str]:
    """Every ``_target_`` value in a parsed YAML document."""
    if isinstance(node, dict):
        own = [str(node["_target_"])] if "_target_" in node else []
        return own + [t for value in node.values() for t in targets(value)]
    if isinstance(node, list):
        return [t for value in node for t in targets(value)]
    return []


def instantiations(source: str) -> list[int]:
    """Lines of ``source`` that import or call Hydra's instantiate (or call)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hydra.utils"):
            lines.append(node.lineno)
        elif isinstance(node, ast.Call) and dotted(node.func).split(".")[-1] == "instantiate":
            lines.append(node.lineno)
    return lines


def test_no_config_or_code_instantiates_hydra_targets() -> None:
    yamls = sorted((ROOT / "conf").rglob("*.yaml"))
    assert [t for p in yamls for t in targets(yaml.safe_load(p.read_text()))] == []
    assert targets({"a": [{"_target_": "os.system"}]}) == ["os.system"]  # the scan works
    assert instantiations("from hydra.utils import instantiate\ninstantiate(cfg)\n") == [1, 2]
    found = {path: lines for path, text in sources().items() if (lines := instantiations(text))}
    assert found == {}


def test_local_ray_runs_without_dashboard_bound_to_localhost(monkeypatch) -> None:
    seen: list[dict] = []
    monkeypatch.setattr(cluster.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(cluster.ray, "init", lambda **kwargs: seen.append(kwargs))
    assert cluster.connect(ClusterSettings(local_cpus=2)) is True
    assert seen[-1]["include_dashboard"] is False
    assert seen[-1]["dashboard_host"] == "127.0.0.1"
    assert "address" not in seen[-1] and seen[-1]["num_cpus"] == 2

    probed: list[tuple] = []
    monkeypatch.setattr(cluster, "probe", lambda *args: probed.append(args))
    cluster.connect(ClusterSettings(address="10.0.0.1:6379", connect_timeout=3))
    assert probed == [("10.0.0.1:6379", 3)] and seen[-1]["address"] == "10.0.0.1:6379"
    assert "dashboard_host" not in seen[-1]  # joining: the cluster's own settings apply


@pytest.mark.parametrize("address", ["10.0.0.1", "ray://:10001"])
def test_malformed_ray_address_is_a_config_error(address: str) -> None:
    with pytest.raises(ConfigError, match="cluster.address"):
        cluster.probe(address, 1)
