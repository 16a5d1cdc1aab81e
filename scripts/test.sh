#!/usr/bin/env bash
# Set up (idempotently), then run every test: unit tests and the slow ones against real
# SIP peers (kamailio, baresip, linphonec), real models (whisper, vosk, piper). Arguments go to
# pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check voicebot tests scripts
# Two runs: pytest-playwright's sync browser session keeps an event loop running in the main
# thread, which every asyncio test after it would trip over; so the browser tests run apart.
status=0
.venv/bin/python -m pytest -q -p no:cacheprovider -p no:playwright -m "not browser" "$@" || status=$?
.venv/bin/python -m pytest -q -p no:cacheprovider -m browser tests/console "$@" || status=$?
exit $status
