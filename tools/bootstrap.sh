#!/usr/bin/env bash
# Install what Vitals needs, idempotently; does only what is missing.
#
#   tools/bootstrap.sh           the Python venv from requirements.lock (no root, no
#                                network beyond PyPI): enough for `make demo`
#   tools/bootstrap.sh --system  also Debian packages for the tests, the local stack and
#                                the benchmarks: Java and Maven (the local Kafka), kcat,
#                                openssl (the security tests' CA and certificates),
#                                Prometheus with promtool, Alertmanager with amtool,
#                                Chromium (the HTML report tests)
#
# Debian's packages would start their daemons on install; a policy-rc.d that
# forbids it is in place for the install, so nothing is started here and nothing
# needs stopping (a Prometheus of the machine's own keeps running).
set -euo pipefail
cd "$(dirname "$0")/.."

system=0
case "${1:-}" in
  --system) system=1 ;;
  "") ;;
  *) echo "usage: $0 [--system]" >&2; exit 2 ;;
esac

if ((system)); then
  need=()
  command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || need+=(maven)
  command -v kcat >/dev/null 2>&1 || need+=(kcat)
  command -v openssl >/dev/null 2>&1 || need+=(openssl)
  command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)
  command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
  command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)  # the HTML report tests
  if ((${#need[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "bootstrap: missing system packages: ${need[*]} (run as root or install them)" >&2
      exit 1
    fi
    echo "bootstrap: apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    policy=/usr/sbin/policy-rc.d
    placed=0
    if [[ ! -e $policy ]]; then
      printf '#!/bin/sh\n# tools/bootstrap.sh: no daemon starts while it installs\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      placed=1
    fi
    trap 'if ((placed)); then rm -f "$policy"; fi' EXIT
    apt-get update -qq
    # --no-install-recommends: no node exporter etc.; we run our own instances
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp=.venv/.installed-$(sha256sum requirements.lock pyproject.toml rust/Cargo.toml rust/Cargo.lock rust/src/*.rs | sha256sum | cut -c1-16)
if [[ ! -f $stamp ]]; then
  # The panel's scans are a Rust extension (rust/, built by pip through setuptools-rust):
  # cargo from rustup lives in ~/.cargo/bin, which a non-login shell may not have on PATH.
  if ! command -v cargo >/dev/null 2>&1 && [[ -x $HOME/.cargo/bin/cargo ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "bootstrap: cargo (Rust) is needed to build monitor/core/_scan: install it with rustup" >&2
    exit 1
  fi
  echo "bootstrap: creating .venv from requirements.lock"
  [[ -x .venv/bin/python ]] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
  rm -f .venv/.installed-*
  touch "$stamp"
fi
