#!/usr/bin/env bash
# A headless browser for the report.html test (tests/test_report_html.py): Chromium from the distribution's packages.
# `make install` calls this. Nothing to do when one is on PATH; as root with apt-get it installs Debian's chromium;
# otherwise it says what to install and leaves the rest of the install alone (the browser test then fails, saying so).
set -euo pipefail

for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then
    exit 0
  fi
done

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  echo "installing chromium (Debian package) for the report.html browser test"
  # A fresh image may have no package lists yet: refresh them only when the first try finds no package.
  apt-get install -y -qq chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
else
  echo "no Chromium found: the report.html browser test needs one. Install it, e.g." >&2
  echo "  sudo apt-get install chromium     (Debian; Ubuntu: chromium-browser)" >&2
fi
