"""Candidates' numbers, names and e-mails: out of logs (`redact`) and never plain at rest.

A phone number or SIP URI is looked up by a keyed hash (HMAC-SHA256 with the server secret), so
a copy of the database cannot be reversed by enumerating numbers; contact fields are Fernet
tokens (MultiFernet: the first key encrypts, every key decrypts, `rotate` re-encrypts).

Keys come from `[pii]` (or `VOICEBOT_PII__SECRET` / `VOICEBOT_PII__KEYS`). With none set, a
per-install key file is generated once, mode 0600, and a warning says so: the data is still
encrypted, and production sets its own keys (and backs them up apart from the database).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

if TYPE_CHECKING:
    from voicebot.config import PiiConfig

log = logging.getLogger(__name__)
_USER = re.compile(r"^(?P<scheme>sips?:|tel:)?(?P<user>[^@;>]+)(?P<rest>@.*)?$")
ENV_SECRET = "VOICEBOT_PII__SECRET"
ENV_KEYS = "VOICEBOT_PII__KEYS"
ENV_KEY_FILE = "VOICEBOT_PII__KEY_FILE"
DEFAULT_KEY_FILE = "var/pii.key"


class PiiError(RuntimeError):
    """Keys missing, unreadable or not the ones the data was written with."""


def redact(value: str) -> str:
    """`sip:+15551234567@pbx` -> `sip:***67@pbx`; a bare number keeps only its last 2 digits."""
    value = value.strip().strip("<>")
    m = _USER.match(value)
    if not m:
        return "***"
    user = m.group("user")
    tail = user[-2:] if len(user) > 4 else ""
    return f"{m.group('scheme') or ''}***{tail}{m.group('rest') or ''}"


def legacy_hash(value: str) -> str:
    """The unkeyed handle of schema <= 4 (sha256 of the normalised value). Kept only as the
    inner step of `PiiKeys.phone_hash`, which is what lets a plain database be migrated
    without its numbers: the keyed hash is a function of this one."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PiiKeys:
    secret: bytes
    keys: tuple[str, ...]  # Fernet keys, newest first
    source: str  # where they came from, for messages (never the keys)
    fernet: MultiFernet = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise PiiError("pii.secret: at least 16 characters")
        if not self.keys:
            raise PiiError("pii.keys: at least one Fernet key (voicebot pii keygen)")
        try:
            fernet = MultiFernet([Fernet(k.encode()) for k in self.keys])
        except (ValueError, TypeError):
            raise PiiError(
                f"pii.keys ({self.source}): not Fernet keys (32 url-safe base64 bytes each)"
            ) from None
        object.__setattr__(self, "fernet", fernet)

    def rehash(self, old: str) -> str:
        """The keyed hash of a legacy (unkeyed) hash."""
        return hmac.new(self.secret, old.encode(), hashlib.sha256).hexdigest()[:32]

    def phone_hash(self, value: str) -> str:
        """A stable handle for a number or SIP URI that only the secret's holder can compute."""
        return self.rehash(legacy_hash(value))

    def candidate_id(self, job_id: str, phone_e164: str) -> str:
        """Stable per job and number (a re-import updates), keyed (not enumerable)."""
        msg = f"candidate\n{job_id}\n{phone_e164}".encode()
        return "cand_" + hmac.new(self.secret, msg, hashlib.sha256).hexdigest()[:20]

    def encrypt(self, text: str | None) -> str | None:
        if text is None:
            return None
        return self.fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str | None) -> str | None:
        if token is None or token == "":
            return token
        try:
            return self.fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise PiiError(
                f"none of the PII keys ({self.source}) decrypts the stored contact fields"
            ) from None

    def reencrypt(self, token: str | None) -> str | None:
        """The same text under the newest key (rotation)."""
        if not token:
            return token
        try:
            return self.fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise PiiError(
                f"none of the PII keys ({self.source}) decrypts the stored contact fields"
            ) from None

    def newest(self) -> PiiKeys:
        """The same secret with only the first key (after a rotation)."""
        return PiiKeys(self.secret, self.keys[:1], self.source)

    def fingerprint(self) -> str:
        """Names the secret without revealing it: a database remembers which one it was
        made with, so a wrong secret fails loudly instead of missing every look-up."""
        return hmac.new(self.secret, b"voicebot pii check", hashlib.sha256).hexdigest()[:16]


def new_key() -> str:
    return Fernet.generate_key().decode()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def from_values(secret: str, keys: str | list[str] | tuple[str, ...], source: str) -> PiiKeys:
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    return PiiKeys(secret.encode(), tuple(keys), source)


def _read_key_file(path: Path) -> PiiKeys:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return from_values(str(data["secret"]), list(data["keys"]), f"key file {path}")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PiiError(f"PII key file {path}: unreadable ({e})") from None


def _write_private(path: Path, keys: PiiKeys) -> Path:
    """The keys in a new file beside `path`, mode 0600 from its creation on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    body = json.dumps({"secret": keys.secret.decode(), "keys": list(keys.keys)}, indent=1)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(body + "\n")
    return tmp


def write_key_file(path: Path, keys: PiiKeys) -> None:
    """Replace the key file atomically (rotation adds a key in front)."""
    os.replace(_write_private(path, keys), path)


def load_key_file(path: Path) -> PiiKeys:
    """The install's key file, generated (0600, logged once) when it does not exist yet; two
    processes racing to create it end up with the same one (link fails for the loser)."""
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning("PII key file %s is readable by others (mode %o): chmod 600", path, mode)
        return _read_key_file(path)
    keys = from_values(new_secret(), [new_key()], f"key file {path}")
    tmp = _write_private(path, keys)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return _read_key_file(path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    log.warning(
        "no PII keys configured: generated %s (mode 0600) to encrypt candidates' contacts; "
        "in production set pii.secret and pii.keys (%s, %s) and back them up",
        path, ENV_SECRET, ENV_KEYS,
    )  # fmt: skip
    return keys


_lock = threading.Lock()
_configured: PiiConfig | None = None
_cache: dict[tuple[str, str, str], PiiKeys] = {}


def configure(cfg: PiiConfig | None) -> None:
    """The process's `[pii]` settings (the CLI calls this once it has read the config)."""
    global _configured
    with _lock:
        _configured = cfg


def keys(cfg: PiiConfig | None = None) -> PiiKeys:
    """The keys in force: `cfg` (or the configured one), else the environment, else the
    install's key file."""
    with _lock:
        cfg = cfg or _configured
        secret = (cfg.secret if cfg else "") or os.environ.get(ENV_SECRET, "")
        raw = (cfg.keys if cfg else "") or os.environ.get(ENV_KEYS, "")
        key_file = (
            (cfg.key_file if cfg else "") or os.environ.get(ENV_KEY_FILE, "") or DEFAULT_KEY_FILE
        )
        if bool(secret) != bool(raw):
            raise PiiError(f"set both {ENV_SECRET} and {ENV_KEYS} (pii.secret, pii.keys)")
        cache_key = (secret, raw, "" if secret else str(Path(key_file).resolve()))
        if cache_key not in _cache:
            if secret:
                _cache[cache_key] = from_values(secret, raw, "pii.secret/pii.keys")
            else:
                _cache[cache_key] = load_key_file(Path(key_file))
        return _cache[cache_key]


def forget_cached() -> None:
    """Drop cached keys (after `rotate` rewrote the key file)."""
    with _lock:
        _cache.clear()
