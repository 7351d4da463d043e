#!/usr/bin/env bash
# End-to-end remote write benchmark: builds the load generator (and Sightline)
# in release mode and runs bench/remote_write.py with the given options.
# See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 bench/remote_write.py "$@"
