#!/usr/bin/env bash
# Set up (idempotently), then run every test: unit tests and the slow ones against real
# SIP peers (kamailio, baresip, linphonec), real models (whisper, vosk, piper). Arguments go to
# pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check voicebot tests scripts
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
