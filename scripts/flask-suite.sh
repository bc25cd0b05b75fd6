#!/usr/bin/env bash
# Flask 3.1.3's own session tests (the 27 selected by -k "session or flash or cookie", from its
# source distribution) with a session interface installed on every app they create, and a
# markdown table of the results for docs/FLASK.md. See bindings/python/flask_suite/RESULTS.md.
#
#   ./scripts/flask-suite.sh [VARIANT...]
#
# VARIANT is `default` (Flask's own cookies: the control, which must pass all 27),
# `flask-session` (Flask-Session 0.8.0 on Redis; `flask-session:KEY=JSON,...` sets config
# first, say `flask-session:SESSION_PERMANENT=false`) or `sessionvault` (its Flask extension,
# on FLASK_SUITE_STORE, default the Redis below with /0; skipped with a message while
# sessionvault.flask cannot be imported). All three when none is given.
#
# Redis is the one at SESSIONVAULT_REDIS_URL (default 127.0.0.1:6379), or a throwaway one
# started here when nothing answers. The venv is .venv-flask-suite (FLASK_HARNESS_PYTHON: see
# scripts/lib/flask-harness.sh). Exits non-zero when the control fails, the selection is not
# 27 tests, or sessionvault fails a test that does not need the data in the cookie.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
suite=$root/bindings/python/flask_suite
# The source distribution of the Flask that scripts/requirements-flask.txt pins.
flask_version=3.1.3
flask_sha256=0ef0e52b8a9cd932855379197dd8f94047b359ca0a78695144304cb45f87c9eb

variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(default flask-session sessionvault)
for v in "${variants[@]}"; do
    case $v in
        default|flask-session|flask-session:*|sessionvault) ;;
        *) echo "usage: $0 [default|flask-session[:KEY=JSON,...]|sessionvault]..." >&2; exit 2 ;;
    esac
done

. scripts/lib/flask-harness.sh
. scripts/lib/services.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/flask-suite.XXXXXX")
trap 'sv_stop_services; rm -rf "$tmp"' EXIT

sv_harness_venv "$root/.venv-flask-suite" "$suite/requirements.txt"
installed=$("$HARNESS_PYTHON" -c 'from importlib.metadata import version; print(version("flask"))')
if [ "$installed" != "$flask_version" ]; then
    echo "error: the venv has Flask $installed; this runs Flask $flask_version's tests" >&2
    exit 1
fi
sv_redis >&2

echo "==> Flask $flask_version's source distribution" >&2
(cd "$tmp" && "$HARNESS_PYTHON" -m pip download --quiet --disable-pip-version-check \
    --no-deps --no-binary :all: "flask==$flask_version" >&2)
echo "$flask_sha256  $tmp/flask-$flask_version.tar.gz" | sha256sum --check --quiet
tar -xzf "$tmp/flask-$flask_version.tar.gz" -C "$tmp"
src=$tmp/flask-$flask_version

results=()
for v in "${variants[@]}"; do
    name=${v%%:*}
    args=(--session-variant "$name")
    case $v in
        flask-session*)
            args+=(--session-store "$SESSIONVAULT_REDIS_URL")
            if [ "$v" != "$name" ]; then
                IFS=, read -r -a extra <<<"${v#*:}"
                for kv in "${extra[@]}"; do args+=("--flask-session-config=$kv"); done
            fi ;;
        sessionvault)
            sv_harness_sessionvault "$root" || continue
            store=${SESSIONVAULT_REDIS_URL%/}
            # Database 0 unless the URL names one.
            [[ ${store#redis://} == */* ]] || store=$store/0
            args+=(--session-store "${FLASK_SUITE_STORE:-$store}") ;;
    esac
    out=$tmp/result-${#results[@]}.json
    echo "==> $v" >&2
    status=0
    # The suite's own pyproject.toml (filterwarnings = error, testpaths) applies, as upstream.
    (cd "$src" && PYTHONPATH=$suite${PYTHONPATH:+:$PYTHONPATH} "$HARNESS_PYTHON" -m pytest -q -p no:cacheprovider \
        -p variant_plugin --rootdir "$src" -c "$src/pyproject.toml" "${args[@]}" \
        --variant-results="$out" -k "session or flash or cookie" tests \
        >"$tmp/$name.log" 2>&1) || status=$?
    tail -n 1 "$tmp/$name.log" >&2
    if [ "$status" -gt 1 ] || [ ! -f "$out" ]; then
        cat "$tmp/$name.log" >&2
        echo "error: pytest exited with $status for $v" >&2
        exit 1
    fi
    results+=("$out")
done
[ ${#results[@]} -gt 0 ] || exit 0
echo
"$HARNESS_PYTHON" "$suite/report.py" "${results[@]}"
