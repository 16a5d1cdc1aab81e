#!/usr/bin/env bash
# Idempotent set-up of the Rasa server: its own venv on Python 3.10 (Rasa 3.6 does not run on
# 3.11), rasa==3.6.21 pinned by scripts/rasa-constraints.txt so installs are reproducible, and a
# trained model in rasa_project/models/ that is re-trained only when the project files change.
set -euo pipefail
cd "$(dirname "$0")/.."

RASA_VENV=${RASA_VENV:-.venv-rasa}
RASA_VERSION=3.6.21
CONSTRAINTS=scripts/rasa-constraints.txt
PROJECT=rasa_project

py310=""
if command -v pyenv >/dev/null && [ -x "$(pyenv root)/versions/3.10.13/bin/python" ]; then
  py310="$(pyenv root)/versions/3.10.13/bin/python"
elif command -v python3.10 >/dev/null; then
  py310=$(command -v python3.10)
else
  echo "setup_rasa: Python 3.10 not found (pyenv 3.10.13 or python3.10); Rasa needs it" >&2
  exit 1
fi

if [ ! -x "$RASA_VENV/bin/python" ]; then
  echo "setup_rasa: creating $RASA_VENV with $py310"
  "$py310" -m venv "$RASA_VENV"
fi
stamp="$RASA_VENV/.rasa-installed"
if [ ! -f "$stamp" ] || [ "$CONSTRAINTS" -nt "$stamp" ]; then
  echo "setup_rasa: installing rasa==$RASA_VERSION into $RASA_VENV (about 90 s)"
  "$RASA_VENV/bin/python" -m pip install -q --upgrade "pip<25"
  cflag=()
  [ -s "$CONSTRAINTS" ] && cflag=(-c "$CONSTRAINTS")
  "$RASA_VENV/bin/python" -m pip install -q "${cflag[@]}" "rasa==$RASA_VERSION"
  touch "$stamp"
fi

[ "${SETUP_RASA_NO_TRAIN:-0}" = 1 ] && exit 0

# Train only when the project files changed: the hash of domain, config and data is stored
# next to the model.
hash=$(cd "$PROJECT" && cat domain.yml config.yml data/*.yml | sha256sum | cut -c1-16)
model_dir="$PROJECT/models"
if [ -f "$model_dir/.hash" ] && [ "$(cat "$model_dir/.hash")" = "$hash" ] \
   && ls "$model_dir"/*.tar.gz >/dev/null 2>&1; then
  echo "setup_rasa: model up to date ($hash)"
  exit 0
fi
echo "setup_rasa: training the Rasa model (about 40 s)"
rm -f "$model_dir"/*.tar.gz
mkdir -p "$model_dir"
(cd "$PROJECT" && SQLALCHEMY_SILENCE_UBER_WARNING=1 "../$RASA_VENV/bin/rasa" train \
   --fixed-model-name voicebot --out models --quiet >/dev/null)
echo "$hash" > "$model_dir/.hash"
echo "setup_rasa: trained $model_dir/voicebot.tar.gz"
