#!/bin/bash
# `make mutation`: the mutation score of the alerting core with mutmut 2.5.1, module by module.
# mutmut rewrites sources in place, so it runs in a throwaway clone of the committed tree, never here.
# A mutant counts as killed when its tests exit non-zero in any way (mutmut 2.x only counts exit 1: the
# `|| exit 1` wrapper turns a collection error, exit 2, into a kill too).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${MUTATION_DIR:-$root/.cache/mutation}
rm -rf "$work" && mkdir -p "$work"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q mutmut==2.5.1 click==8.5.1 glob2==0.7 junit-xml==1.9 parso==0.8.7 pony==0.7.20 \
    toml==0.10.2 six==1.17.0
"$work/venv/bin/pip" install -q -r "$root/requirements-dev.lock"
runner="-B -m pytest -x -q -p no:cacheprovider --timeout=10 --hypothesis-seed=0"
property="--deselect tests/check/test_policy.py::test_every_login_is_emailed_once_or_in_one_digest_once_whatever_the_failures_and_limits"
declare -A tests=(
  [statediff]="tests/logins/test_statediff.py tests/logins/test_statediff_edges.py"
  [loginlog]="tests/logins/test_statediff.py tests/logins/test_loginlog_edges.py"
  [loginline]="tests/logins/test_loginline.py tests/logins/test_text.py tests/logins/test_loginline_edges.py"
  [policy]="$property tests/check/test_policy.py tests/rules/test_policy_edges.py"
  [trust]="$property tests/check/test_policy.py tests/rules/test_trust_edges.py"
  [render]="tests/check/test_render.py tests/logins/test_text.py tests/check/test_render_edges.py"
  [store]="tests/store/test_store.py tests/store/test_store_edges.py"
  [historytable]="tests/store/test_store.py tests/store/test_store_edges.py"
  [outbox]="tests/store/test_outbox_edges.py"
  [eventstore]="--deselect tests/check/test_fanout.py::test_every_login_reaches_every_channel_exactly_once_through_failures_and_recoveries tests/check/test_fanout.py tests/store/test_eventstore_edges.py"
  [events]="tests/logins/test_text.py tests/check/test_events_edges.py"
)
printf '%-10s %s\n' module result
for module in ${MODULES:-statediff loginlog loginline policy trust render store historytable outbox eventstore events}; do
  clone="$work/$module"
  git clone -q "$root" "$clone"
  (cd "$clone" && find app tests -name __pycache__ -prune -exec rm -rf {} + \
    && "$work/venv/bin/mutmut" run --no-progress --paths-to-mutate "$(ls app/*/"$module".py)" --tests-dir tests \
         --runner "sh -c '$work/venv/bin/python $runner ${tests[$module]} || exit 1'" >/dev/null 2>&1 || true
   "$work/venv/bin/python" - "$module" <<'SCORE'
import sqlite3, sys
counts = dict(sqlite3.connect(".mutmut-cache").execute("SELECT status, count(*) FROM Mutant GROUP BY status"))
total, survived = sum(counts.values()), counts.get("bad_survived", 0) + counts.get("untested", 0)
print("{:<10} {}/{} killed ({:.1f}%), {}".format(sys.argv[1], total - survived, total,
                                                100.0 * (total - survived) / max(total, 1), counts))
SCORE
  )
done
