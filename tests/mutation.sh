#!/bin/bash
# `make mutation`: the mutation score of the core (logins, rules, store, check) with mutmut 2.5.1, module by
# module, each against its own fast unit tests. MODULES="store/outbox check/policy" picks some.
# mutmut rewrites sources in place, so it runs in a throwaway clone of the committed tree (HEAD), never here;
# MUTATION_DIR (default .cache/mutation) keeps the venv, one clone per module (`mutmut show ID` there) and its log.
# A mutant counts as killed when its tests exit non-zero in any way (mutmut 2.x only counts exit 1: the
# `|| exit 1` wrapper turns a collection error, exit 2, into a kill too).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${MUTATION_DIR:-$root/.cache/mutation}
mkdir -p "$work"
if ! "$work/venv/bin/mutmut" version 2>/dev/null | grep -q '2\.5\.1'; then
  rm -rf "$work/venv"
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install -q mutmut==2.5.1 click==8.5.1 glob2==0.7 junit-xml==1.9 parso==0.8.7 pony==0.7.20 \
      toml==0.10.2 six==1.17.0
  "$work/venv/bin/pip" install -q -r "$root/requirements-dev.lock"
fi
# the runtime's own dependencies (keyring, email-validator): a test that reads a secret needs them
if ! "$work/venv/bin/python" -c "import keyring, email_validator" 2>/dev/null; then
  "$work/venv/bin/pip" install -q --no-deps --require-hashes --only-binary=:all: -r "$root/requirements.lock"
fi
runner="-B -m pytest -x -q -p no:cacheprovider --timeout=10"
# Hypothesis' pytest plugin costs a second of every run (most of it): loaded only where a test uses Hypothesis.
seeded="--hypothesis-seed=0" unseeded="-p no:hypothesispytest"
property="--deselect tests/check/test_policy.py::test_every_login_is_emailed_once_or_in_one_digest_once_whatever_the_failures_and_limits"
fanout="--deselect tests/check/test_fanout.py::test_every_login_reaches_every_channel_exactly_once_through_failures_and_recoveries"
# test_history.py's tests of the built pyz (they would build it for every mutant) are left out
built=$(for name in history_lists_every_login_oldest_first_so_the_newest_is_next_to_the_prompt \
          history_json_gives_every_field_of_every_login \
          history_summary_gives_one_row_per_source_ip_with_its_users_sorted_by_last_seen \
          history_summary_json_gives_the_same_rows history_ip_network_selects_its_logins_including_ipv4_mapped_ones \
          history_since_7d_leaves_out_older_logins a_bad_since_exits_2_with_one_line_naming_the_value_and_the_accepted_forms \
          a_bad_ip_exits_2_with_one_line_naming_it no_history_yet_says_so_in_one_line; do
          printf -- '--deselect tests/store/test_history.py::test_%s ' "$name"; done)
declare -A tests=(
  [logins/statediff]="tests/logins/test_statediff.py tests/logins/test_statediff_edges.py"
  [logins/loginlog]="tests/logins/test_statediff.py tests/logins/test_loginlog_edges.py"
  [logins/loginline]="tests/logins/test_loginline.py tests/logins/test_text.py tests/logins/test_loginline_edges.py"
  [rules/trust]="$property tests/check/test_policy.py tests/rules/test_trust_edges.py"
  [store/store]="tests/store/test_store.py tests/store/test_store_edges.py tests/store/test_store_mutants.py"
  [store/historytable]="$built tests/store/test_store.py tests/store/test_store_edges.py tests/store/test_history.py
                        tests/store/test_history_mutants.py"
  [store/history]="$built tests/store/test_history.py tests/store/test_history_kind.py tests/logins/test_text.py
                   tests/check/test_events_edges.py tests/store/test_history_mutants.py"
  [store/eventstore]="$fanout tests/check/test_fanout.py tests/store/test_eventstore_edges.py
                      tests/store/test_eventstore_mutants.py"
  [store/outbox]="tests/store/test_outbox_edges.py tests/store/test_outbox_mutants.py"
  [store/upgrade]="tests/store/test_store.py tests/store/test_upgrade_mutants.py"
  [store/outcome]="tests/store/test_status_truth.py tests/store/test_outcome_mutants.py"
  [check/policy]="$property tests/check/test_policy.py tests/rules/test_policy_edges.py"
  [check/render]="tests/check/test_render.py tests/logins/test_text.py tests/check/test_render_edges.py tests/check/test_render_mutants.py"
  [check/events]="tests/logins/test_text.py tests/check/test_events_edges.py"
  [check/handoff]="tests/check/test_handoff.py tests/check/test_handoff_mutants.py"
  [check/context]="tests/check/test_context_mutants.py"
  [check/fanout]="$fanout tests/check/test_fanout.py tests/check/test_fanout_mutants.py"
  [check/sessionends]="tests/check/test_sessionends.py tests/check/test_sessionends_mutants.py"
  [check/reset]="tests/check/test_reset_mutants.py tests/check/test_reset.py"
  [check/oldroute]="tests/check/test_old_route.py tests/check/test_oldroute_mutants.py"
  [store/pending]="tests/store/test_pending.py"
  [store/outboxtable]="tests/store/test_outbox_edges.py tests/store/test_outbox_mutants.py tests/store/test_store.py
                       tests/store/test_store_edges.py tests/store/test_store_mutants.py"
  [store/schema]="tests/store/test_store.py tests/store/test_store_edges.py tests/store/test_upgrade_mutants.py"
  [check/wire]="tests/check/test_render_wire.py tests/check/test_render.py tests/check/test_render_edges.py
                tests/check/test_wire_mutants.py"
  [check/sender]="tests/check/test_sender.py tests/check/test_sender_mutants.py"
)
order="logins/statediff logins/loginlog logins/loginline rules/trust store/historytable store/history store/eventstore
       store/upgrade store/outcome store/store store/outbox check/policy check/events check/handoff check/context
       check/fanout check/sessionends check/reset check/oldroute check/render store/pending store/outboxtable
       store/schema check/wire check/sender"
echo "commit $(git -C "$root" rev-parse --short HEAD)"
printf '%-20s %s\n' module result
for module in ${MODULES:-$order}; do
  clone="$work/${module//\//-}"
  rm -rf "$clone"
  git clone -q "$root" "$clone"
  # a test file listed that the tree does not have yet is left out (pytest would stop on it)
  listed=$(cd "$clone" && for word in ${tests[$module]}; do
             case $word in tests/*.py) if [ -e "$word" ]; then echo "$word"; fi;; *) echo "$word";; esac; done | tr '\n' ' ')
  plugin=$unseeded
  if (cd "$clone" && grep -qw hypothesis $(for word in $listed; do case $word in tests/*.py) echo "$word";; esac; done)); then
    plugin=$seeded
  fi
  (cd "$clone" && find app tests -name __pycache__ -prune -exec rm -rf {} + \
    && nice -n 10 "$work/venv/bin/mutmut" run --no-progress --paths-to-mutate "app/$module.py" --tests-dir tests \
         --runner "sh -c '$work/venv/bin/python $runner $plugin $listed || exit 1'" >"$clone.log" 2>&1 || true
   "$work/venv/bin/python" - "$module" <<'SCORE'
import sqlite3, sys
counts = dict(sqlite3.connect(".mutmut-cache").execute("SELECT status, count(*) FROM Mutant GROUP BY status"))
total, survived = sum(counts.values()), counts.get("bad_survived", 0) + counts.get("untested", 0)
print("{:<20} {}/{} killed ({:.1f}%), {}".format(sys.argv[1], total - survived, total,
                                                100.0 * (total - survived) / max(total, 1), counts))
SCORE
  ) || echo "$module: no score, see $clone.log"
  # a mutant can leave a process its test forked spinning after the test's timeout (the hook's wait turned
  # into a busy loop): nothing of this venv outlives its module
  pkill -9 -f "^$work/venv/bin/python " || true
done
