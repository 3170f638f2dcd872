#!/bin/sh
# Runs every cmocka test binary given, prints each one's failures, and ends
# with one line "N passed, N failed" over all test cases (preceded by
# "N skipped: ..." when any test skipped). A binary that dies before its
# summary (crash, sanitizer report) counts as one failure. A suite with
# skipped tests is reported as such, never as plain ok.
# TSAN_ONLY=1 runs only the threaded suites (names with thread/engine/tui:
# test_threads is the worker pool's).
passed=0
failed=0
skipped=0
skipped_names=""
for t in "$@"; do
  case "$t" in
    *thread*|*engine*|*tui*) ;;
    *) [ -n "$TSAN_ONLY" ] && continue ;;
  esac
  out=$("$t" 2>&1); rc=$?
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
  s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -n 1)
  p=${p:-0}; f=${f:-0}; s=${s:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$f" -ne 0 ]; then
    printf '%s\n' "$out" | grep -v '^\[ \(RUN\|      OK\) ' | tail -n 60
    echo "FAIL: $t (exit $rc)"
  elif [ "$s" -ne 0 ]; then
    names=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([A-Za-z_][A-Za-z0-9_]*\)$/\1/p' | sort -u | tr '\n' ' ')
    why=$(printf '%s\n' "$out" | grep -i 'skip' | grep -v '^\[' | head -n 1)
    echo "SKIPPED: $t ($p passed, $s skipped: ${names% }${why:+; $why})"
    skipped_names="$skipped_names ${t##*/}"
  else
    echo "ok: $t ($p tests)"
  fi
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
done
[ "$skipped" -ne 0 ] && echo "$skipped skipped (in:$skipped_names)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
