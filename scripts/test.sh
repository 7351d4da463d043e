#!/usr/bin/env bash
# Runs every test on a fresh machine: installs the real peers the
# integration tests talk to (Prometheus, node_exporter, Alertmanager,
# VictoriaMetrics from Debian; OpenTelemetry SDK, prometheus_client and a
# StatsD client from PyPI), then runs the workspace tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

apt_pkgs=(prometheus prometheus-node-exporter prometheus-alertmanager victoria-metrics)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  # The packages' services must not start: tests run their own instances.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
    $sudo_cmd chmod +x /usr/sbin/policy-rc.d
  fi
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/python-requirements.txt
export SIGHTLINE_PYTHON="$PWD/.venv/bin/python"

cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --quiet --no-fail-fast

# PromQL conformance through the binary (`sightline promql-test`), on every
# public test script kept beside the repository (never copied into it).
conformance="$(cd .. && pwd)/shared/conformance/promql"
if [ -d "$conformance" ]; then
  cargo run -q -p sightline -- promql-test "$conformance"/*.test | tail -n 1
else
  echo "note: $conformance not found; PromQL conformance scripts skipped" >&2
fi
