#!/usr/bin/env bash
# Build a Python base image without any container registry: debootstrap a minimal Debian
# (bookworm, Python 3.11) from the apt mirror this machine already uses, then `docker import` it.
# For air-gapped machines and CI; set mlstack:image.baseImage to the tag it prints.
#
#   usage: scripts/offline-base-image.sh [TAG]      (default: mlstack/python-base:3.11-bookworm)
set -euo pipefail

tag="${1:-mlstack/python-base:3.11-bookworm}"
suite=bookworm

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "offline-base-image: debootstrap needs root" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }

# The mirror apt is configured with (deb822 or one-line sources), else Debian's own.
mirror=$(grep -hoE '^URIs: *http[^ ]+/debian/?$|^deb +http[^ ]+/debian/? ' \
  /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | grep -oE 'http[^ ]+' | head -n 1 || true)
mirror="${mirror:-http://deb.debian.org/debian}"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  "$suite" "$root" "$mirror" >/dev/null
# Trim what an image never needs: apt lists and caches, docs, man pages.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* \
  "$root"/usr/share/man/*
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' - "$tag" >/dev/null
echo "$tag"
