#!/usr/bin/env bash
# Prints the Pincer images compose.yml runs (nats gateway ... fake-provider), one per line, read
# from compose.yml itself: the one list that scripts/up.sh builds, scripts/ship-images.sh moves and
# `pincer-bench report --build` times.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
sed -n 's|^ *image: pincer/\([a-z-]*\):.*|\1|p' compose.yml
