#!/usr/bin/env bash
# Set up (idempotently), then run the demo interview: kamailio, the bot and a scripted
# candidate on 127.0.0.1. Extra arguments go to `voicebot demo` (e.g. --json, --inbound).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/voicebot demo "$@"
