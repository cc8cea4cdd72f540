#!/usr/bin/env bash
# The fresh-install check CI cannot fake: clone HEAD into a new folder beside ../shared (so the data
# is where a new user's clone finds it), and run the README's two commands exactly as written there,
# in a new .venv with an empty backbone cache (the e5-small conversion runs too). The demo command
# gets a tiny override appended (DEMO_OVERRIDE) so the check takes minutes; FULL_DEMO=1 runs it
# unchanged. Prints one line per command: its exit status and wall time. Logs: $LOGS (kept).
# The fast test tier (README) runs first, after setup. KEEP=1 keeps the clone. Run it before every submission: bash scripts/fresh-check.sh
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
parent=$(dirname "$repo")
readme="$repo/README.md"
tests_cmd=$(grep -m1 '^bash scripts/setup.sh && .venv/bin/python -m pytest' "$readme")
demo_cmd=$(grep -m1 '^bash scripts/setup.sh && .venv/bin/borderless run ' "$readme")
fast_cmd=$(grep -m1 '^.venv/bin/python -m pytest -q -m "not slow"' "$readme")
if [ -z "$tests_cmd" ] || [ -z "$demo_cmd" ] || [ -z "$fast_cmd" ]; then
  echo "fresh-check: could not find the three commands (tests, demo, fast tier) in $readme" >&2
  exit 2
fi
DEMO_OVERRIDE=${DEMO_OVERRIDE:---set federated.rounds=2 --set data.max_train_per_language=40 --set data.max_dev_per_language=10 --set data.max_test_per_language=40}
if [ "${FULL_DEMO:-0}" != "1" ]; then demo_cmd="$demo_cmd $DEMO_OVERRIDE"; fi
clone=$(mktemp -d "$parent/borderless-fresh.XXXXXX")
LOGS=${LOGS:-$(mktemp -d /tmp/fresh-check-logs.XXXXXX)}
mkdir -p "$LOGS"
[ "${KEEP:-0}" = "1" ] || trap 'rm -rf "$clone"' EXIT
git clone -q "$repo" "$clone" || exit 2
echo "fresh-check: $(git -C "$clone" rev-parse --short HEAD) cloned into $clone (shared/ beside it: $([ -d "$parent/shared/data" ] && echo yes || echo NO)); logs in $LOGS"
status=0
run() {  # name, command
  local name=$1 cmd=$2 start end rc
  start=$(date +%s)
  (cd "$clone" && env -u VIRTUAL_ENV -u PYTHONPATH -u BORDERLESS_DATA -u BORDERLESS_CACHE -u BORDERLESS_DEBUG \
     XDG_CACHE_HOME="$clone/.fresh-cache" CI=true bash -c "$cmd") >"$LOGS/$name.log" 2>&1 </dev/null
  rc=$?
  end=$(date +%s)
  printf 'fresh-check: %-5s exit %d in %dm%02ds: %s\n' "$name" "$rc" $(((end - start) / 60)) $(((end - start) % 60)) "$cmd"
  if [ "$rc" != 0 ]; then tail -n 25 "$LOGS/$name.log"; status=1; fi
  if [ "$name" = tests ] || [ "$name" = fast ]; then
    grep -E "[0-9]+ passed" "$LOGS/$name.log" | tail -n 1 | sed "s/^/fresh-check:       /"
  fi
}
# the fast tier first, on the new clone: setup, then its command as the README gives it (pytest's own
# time is the tier's; the line before it is setup included)
run fast "bash scripts/setup.sh && $fast_cmd"
run tests "$tests_cmd"
run demo "$demo_cmd"
exit $status
