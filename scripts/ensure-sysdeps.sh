#!/usr/bin/env bash
# Install the system libraries that Qt's xcb platform, vispy's OpenGL and headless tests need, when missing.
# As root with apt-get (a fresh Debian/Ubuntu machine) they are installed; otherwise the missing ones are named.
set -u
PKGS="xvfb xauth libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
libxcb-xinerama0 libxcb-shape0 libgl1-mesa-dri libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3
fonts-dejavu-core"
missing=""
if command -v dpkg-query >/dev/null 2>&1; then
  for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
else
  command -v Xvfb >/dev/null 2>&1 || missing="xvfb"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing system packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null \
    || { echo "apt-get install failed for:$missing" >&2; exit 1; }
else
  echo "Missing system packages (install them with your package manager):$missing" >&2
  # on a desktop with a display the app still runs; headless tests need Xvfb
  [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] || exit 1
fi
