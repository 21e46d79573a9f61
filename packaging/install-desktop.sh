#!/usr/bin/env bash
# Install (or with --uninstall remove) cryogui's menu entry, icons and AppStream metadata for the current user,
# in the XDG places under ${XDG_DATA_HOME:-~/.local/share}:
#   applications/io.github.cryogui.desktop          Exec= points at the executable given (absolute path)
#   icons/hicolor/scalable/apps/io.github.cryogui.svg
#   icons/hicolor/<N>x<N>/apps/io.github.cryogui.png   N = 16 32 48 64 128 256
#   metainfo/io.github.cryogui.metainfo.xml
# Usage: packaging/install-desktop.sh EXECUTABLE      (make install-desktop picks the bundle or the venv's cryogui)
#        packaging/install-desktop.sh --uninstall
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APP_ID=io.github.cryogui
RES=$ROOT/resources
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
SIZES="16 32 48 64 128 256"

refresh() {
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$DATA/applications" || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$DATA/icons/hicolor/index.theme" ] \
        && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" || true
}

if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$DATA/applications/$APP_ID.desktop" "$DATA/metainfo/$APP_ID.metainfo.xml" \
          "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
    for n in $SIZES; do rm -f "$DATA/icons/hicolor/${n}x${n}/apps/$APP_ID.png"; done
    refresh
    echo "removed cryogui's desktop entry, icons and metainfo from $DATA"
    exit 0
fi

exe=${1:?usage: install-desktop.sh EXECUTABLE | --uninstall}
case "$exe" in /*) ;; *) exe="$(pwd)/$exe" ;; esac
[ -x "$exe" ] || { echo "install-desktop.sh: $exe is not an executable (run 'make setup' or 'make package')" >&2; exit 2; }
case "$exe" in *[\"\`\$\\%]*)
    echo "install-desktop.sh: the path $exe has characters a .desktop Exec line cannot carry; move it" >&2; exit 2 ;;
esac

install -d "$DATA/applications" "$DATA/metainfo" "$DATA/icons/hicolor/scalable/apps"
install -m 644 "$RES/icons/$APP_ID.svg" "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
for n in $SIZES; do
    install -d "$DATA/icons/hicolor/${n}x${n}/apps"
    install -m 644 "$RES/icons/png/$APP_ID-$n.png" "$DATA/icons/hicolor/${n}x${n}/apps/$APP_ID.png"
done
install -m 644 "$RES/$APP_ID.metainfo.xml" "$DATA/metainfo/$APP_ID.metainfo.xml"

work=$(mktemp -d "${TMPDIR:-/tmp}/cryogui-desktop.XXXXXX")
trap 'rm -rf "$work"' EXIT
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
        Exec=*) printf 'Exec="%s" %%F\n' "$exe" ;;
        TryExec=*) printf 'TryExec=%s\n' "$exe" ;;
        *) printf '%s\n' "$line" ;;
    esac
done <"$RES/$APP_ID.desktop" >"$work/$APP_ID.desktop"
if command -v desktop-file-validate >/dev/null 2>&1; then
    desktop-file-validate "$work/$APP_ID.desktop" \
        || { echo "install-desktop.sh: the generated .desktop file is invalid" >&2; exit 1; }
fi
# copy beside the target, then rename: a menu never sees a half-written entry
install -m 644 "$work/$APP_ID.desktop" "$DATA/applications/.$APP_ID.desktop.tmp"
mv -f "$DATA/applications/.$APP_ID.desktop.tmp" "$DATA/applications/$APP_ID.desktop"
refresh
echo "installed $DATA/applications/$APP_ID.desktop (Exec: $exe), icons and metainfo"
