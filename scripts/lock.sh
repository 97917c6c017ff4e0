#!/usr/bin/env bash
# Regenerates constraints.txt: every package (and version) that a fresh install of '.[dev]'
# gets today, from pyproject's ranges. Run after adding or widening a dependency; commit the file.
# The README's install, .ci/run and the Dockerfile install with `-c constraints.txt`.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)/venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q -e '.[dev]'
{
    echo "# Pinned versions of every dependency (pyproject.toml keeps the ranges), for Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())') on Linux."
    echo "# Made by: bash scripts/lock.sh  (a fresh venv, pip install -e '.[dev]', pip freeze). Used as: pip install -c constraints.txt -e '.[dev]'"
    "$venv/bin/pip" freeze --exclude-editable | grep -v '^huashu'
} > constraints.txt
rm -rf "$(dirname "$venv")"
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages"
