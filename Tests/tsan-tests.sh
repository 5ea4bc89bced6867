#!/usr/bin/env bash
# The suites that start threads (tagged .threaded; ThreadedSuitesTests fails when one is not),
# under ThreadSanitizer (a debug build; the short runs measure longer under a sanitizer). A race
# it reports is a bug to fix, never to suppress. Its output is kept in a log, and the first lines
# of every report (the two access stacks' top frames) are printed again at the end, so a failure
# shows its evidence here even when the reports scrolled by among the tests' lines.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p .build-tsan
threaded=.build-tsan/threaded-suites.log
status=0
swift test --sanitize=thread --disable-xctest --scratch-path .build-tsan --filter "$(Tests/threaded-suites)" 2>&1 \
  | tee "$threaded" || status=$?
Tests/tsan-reports "$threaded" >&2 \
  || { echo "ThreadSanitizer reported a race in the threaded suites; the whole output is in $threaded" >&2; exit 1; }
[ "$status" -eq 0 ] || { echo "the threaded suites failed under ThreadSanitizer (exit $status)" >&2; exit "$status"; }
# Positive control: a decrement without acquire (planted in AtomicSchemeTests, run only here) must
# be reported; its counts stay right on x86, so only the sanitizer can catch it.
planted=.build-tsan/planted-race.log
if REFSCALE_PLANTED_RACE=1 swift test --sanitize=thread --disable-xctest --scratch-path .build-tsan \
  --filter plantedMissingAcquireIsReportedByThreadSanitizer >"$planted" 2>&1; then
  echo "ThreadSanitizer did not fail on the planted missing acquire" >&2; exit 1
fi
grep -q "WARNING: ThreadSanitizer: data race" "$planted" \
  || { echo "the planted missing acquire was not reported as a data race; see $planted" >&2; exit 1; }
echo "planted missing acquire: reported by ThreadSanitizer"
