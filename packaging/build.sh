#!/usr/bin/env bash
# Build the one-folder desktop bundle into build/bundle/cryogui/, smoke-test it under Xvfb, print size and build time.
#   PY=...            python of the environment to bundle (default: .venv/bin/python); its torch is what ships
#   CLEAN=1           discard PyInstaller's cache (build/pyinstaller) and rebuild from scratch
#   SKIP_SMOKE=1      build only
#   DIST=, WORK=      output folder (default build/bundle) and PyInstaller cache (default build/pyinstaller)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
DIST=${DIST:-$ROOT/build/bundle}
WORK=${WORK:-$ROOT/build/pyinstaller}
APP=$DIST/cryogui/cryogui
cd "$ROOT"

"$PY" -c "import PyInstaller" 2>/dev/null || { echo "build.sh: PyInstaller is missing: $PY -m pip install '.[package]'" >&2; exit 2; }
torch_info=$("$PY" -c "import torch; print(torch.__version__, 'cuda' if torch.version.cuda else 'cpu')")
echo "== bundling cryogui with torch $torch_info ($PY)"

clean=()
[ "${CLEAN:-0}" = "1" ] && clean=(--clean)
t0=$(date +%s)
"$PY" -m PyInstaller --noconfirm "${clean[@]}" --log-level "${PYI_LOG_LEVEL:-WARN}" \
    --distpath "$DIST" --workpath "$WORK" packaging/cryogui.spec
t1=$(date +%s)
build_s=$((t1 - t0))

echo "== checking the CLI inside the bundle"
"$APP" --version
smoke_home=$(mktemp -d "${TMPDIR:-/tmp}/cryogui-smoke.XXXXXX")
trap 'rm -rf "$smoke_home"' EXIT
# a map, then particles projected from it (torch), then reading them back
CRYOGUI_HOME="$smoke_home" "$APP" simulate map --out "$smoke_home/map.mrc" --box 32 --json >/dev/null
CRYOGUI_HOME="$smoke_home" "$APP" simulate particles "$smoke_home/map.mrc" --out "$smoke_home/p.star" --n 4 --json \
    >/dev/null
CRYOGUI_HOME="$smoke_home" "$APP" info "$smoke_home/map.mrc" "$smoke_home/p.star" >/dev/null
echo "CLI ok (simulate map, simulate particles, info)"

smoke="skipped"
if [ "${SKIP_SMOKE:-0}" != "1" ]; then
    echo "== smoke test: $APP --smoke-test (every panel, a tiny job in each)"
    run=()
    if command -v xvfb-run >/dev/null 2>&1; then
        run=(xvfb-run -a -s "-screen 0 1600x1000x24")
    elif [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
        echo "build.sh: no display and no xvfb-run: install xvfb (make sysdeps) to smoke-test the bundle" >&2
        exit 1
    fi
    s0=$(date +%s)
    # vispy needs real OpenGL: never inherit the offscreen platform from a test environment
    if env -u QT_QPA_PLATFORM CRYOGUI_HOME="$smoke_home" timeout "${SMOKE_TIMEOUT:-900}" "${run[@]}" "$APP" --smoke-test \
        >"$DIST/smoke-test.log" 2>&1; then
        smoke="passed in $(( $(date +%s) - s0 )) s"
    else
        code=$?
        tail -n 40 "$DIST/smoke-test.log" >&2
        echo "build.sh: smoke test FAILED (exit $code)" >&2
        exit 1
    fi
fi

size=$(du -sh "$DIST/cryogui" | cut -f1)
files=$(find "$DIST/cryogui" -type f | wc -l)
echo "== bundle:     $DIST/cryogui ($size, $files files; torch $torch_info)"
echo "== build time: ${build_s} s$([ "${CLEAN:-0}" = "1" ] && echo " (clean)" || echo " (PyInstaller cache in build/pyinstaller; CLEAN=1 for a full build)")"
echo "== smoke test: $smoke$([ "$smoke" = skipped ] || echo " (log: $DIST/smoke-test.log)")"
