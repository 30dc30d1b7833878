"""Checkpoints from strangers: loading one never runs code it brings (no pickled object is rebuilt, no module it
names is imported unless eoxr or the caller vouches for it), and a damaged file says what it is."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from eoxr.errors import CheckpointError  # noqa: E402
from eoxr.ml import checkpoint, nets, registry  # noqa: E402

MODULE = "strangers_arch"  # a module that announces its import by writing a file


def config(module: str | None) -> dict:
    return {"arch": {"name": "strangers.Net", "module": module, "kwargs": {}}, "inputs": ["a"], "target": "t",
            "normalisation": {}, "input_channels": ["a"], "target_channels": ["t"]}


@pytest.fixture
def strangers_module(tmp_path, monkeypatch) -> Path:
    """``strangers_arch`` on sys.path (not imported); returns the file its import would write."""
    marker = tmp_path / "imported"
    (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent(f"""
        from pathlib import Path
        from torch import nn
        from eoxr.ml import nets

        Path({str(marker)!r}).write_text("the checkpoint made this process run my code")

        @nets.register("strangers.Net")
        class Net(nn.Module):
            pass
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    yield marker
    sys.modules.pop(MODULE, None)
    nets._REGISTRY.pop("strangers.Net", None)  # each test starts with the network unknown


def test_module_named_by_a_checkpoint_is_not_imported_unless_trusted(strangers_module, tmp_path):
    path = checkpoint.save(tmp_path / "net.ckpt", config(MODULE), {})
    ck = checkpoint.load(path)  # reading the file imports nothing
    with pytest.raises(CheckpointError) as err:
        ck.build_model()
    assert not strangers_module.exists() and MODULE not in sys.modules
    message = str(err.value)
    assert f"import the module {MODULE!r}" in message and f"trusted_modules=[{MODULE!r}]" in message
    model = ck.build_model(trusted_modules=[MODULE])  # the caller vouches for it
    assert strangers_module.exists() and type(model).__module__ == MODULE


def test_registry_load_passes_the_trust_on(strangers_module, tmp_path, monkeypatch):
    folder = tmp_path / "models"
    registry.add("strangers.net", checkpoint.save(tmp_path / "net.ckpt", config(MODULE), {}), folder=folder)
    monkeypatch.setenv("EOXR_MODELS", str(folder))
    with pytest.raises(CheckpointError, match=f"import the module '{MODULE}'"):
        registry.load("strangers.net")
    assert not strangers_module.exists()
    model, _ = registry.load("strangers.net", trusted_modules=[MODULE])
    assert strangers_module.exists() and type(model).__name__ == "Net"


class Payload:
    """Pickled into a checkpoint: unpickling it would create ``target`` (any code could run instead)."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return Path.touch, (self.target,)


def test_checkpoint_holding_a_pickled_object_is_refused_unread(tmp_path):
    ran = tmp_path / "code-ran"
    path = tmp_path / "pickled.ckpt"
    torch.save({"format": checkpoint.FORMAT, "config": "{}", "state_dict": {}, "extra": Payload(ran)}, path)
    with pytest.raises(CheckpointError) as err:
        checkpoint.load(path)
    assert not ran.exists()  # torch.load(weights_only=False) would have created it
    assert "pickled Python objects" in str(err.value) and "never unpickles" in str(err.value)


@pytest.mark.parametrize("content, fragment", [
    (b"", "is empty (0 bytes)"),
    (b"weights: see the attached email\n", "is not a torch file (it starts with 'weights: see the attached"),
    (b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "is not a torch file (it starts with '<!DOCTYPE"),
    (b"PK\x03\x04 truncated zip", "could not be read"),
])
def test_damaged_checkpoint_says_what_it_is(tmp_path, content, fragment):
    path = tmp_path / "model.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        checkpoint.load(path)
    assert str(path) in str(err.value) and fragment in str(err.value)
    assert "retrain" in str(err.value)
