#!/usr/bin/env bash
# Creates (idempotently) the Python venv for the reference speech service and
# installs soak/speech/requirements.txt into it. Prints the venv's python path
# as the last line of stdout.
#
#   VPBX_SPEECH_VENV  venv folder, relative to the repo root unless absolute
#                     (default: target/speech-venv)
#   PYTHON            interpreter used to create the venv (default: python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

venv="${VPBX_SPEECH_VENV:-target/speech-venv}"
case "$venv" in
    /*) ;;
    *) venv="$root/$venv" ;;
esac
req="$here/requirements.txt"
py="$venv/bin/python"
stamp="$venv/.vpbx-requirements"

if [ ! -x "$py" ]; then
    "${PYTHON:-python3}" -m venv "$venv" >&2
fi

# Reinstall only when requirements.txt changed since the last successful install.
if [ ! -f "$stamp" ] || ! cmp -s "$req" "$stamp"; then
    "$py" -m pip install --disable-pip-version-check -q -r "$req" >&2
    cp "$req" "$stamp"
fi

# Fail here, not at the first call, if the package or its English model is broken.
"$py" -c 'import pocketsphinx, os; m = pocketsphinx.get_model_path(); assert os.path.isdir(os.path.join(m, "en-us", "en-us")), m' >&2

echo "$py"
