#!/bin/sh
# Runs every cmocka test binary given, prints each one's failures, and ends
# with one line "N passed, N failed" over all test cases. A binary that dies
# before its summary (crash, sanitizer report) counts as one failure.
# TSAN_ONLY=1 runs only the threaded suites (names with thread/engine/tui).
passed=0
failed=0
for t in "$@"; do
  case "$t" in
    *thread*|*engine*|*tui*) ;;
    *) [ -n "$TSAN_ONLY" ] && continue ;;
  esac
  out=$("$t" 2>&1); rc=$?
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n 1)
  p=${p:-0}; f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$f" -ne 0 ]; then
    printf '%s\n' "$out" | grep -v '^\[ \(RUN\|      OK\) ' | tail -n 60
    echo "FAIL: $t (exit $rc)"
  else
    echo "ok: $t ($p tests)"
  fi
  passed=$((passed + p)); failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
