#!/usr/bin/env bash
# The suites that start threads (tagged .threaded; ThreadedSuitesTests fails when one is not),
# under ThreadSanitizer, then its positive control, as .ci/run runs them: a debug build in
# .build-tsan (the first one takes minutes). A race it reports is a bug to fix, never to suppress.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
swift test --sanitize=thread --disable-xctest --scratch-path .build-tsan --filter "$(Tests/threaded-suites)"
# A decrement without acquire (planted in AtomicSchemeTests, run only here) must be reported; its
# counts stay right on x86, so only the sanitizer can catch it.
planted=.build-tsan/planted-race.log
if REFSCALE_PLANTED_RACE=1 swift test --sanitize=thread --disable-xctest --scratch-path .build-tsan \
  --filter plantedMissingAcquireIsReportedByThreadSanitizer >"$planted" 2>&1; then
  echo "ThreadSanitizer did not fail on the planted missing acquire" >&2; exit 1
fi
grep -q "WARNING: ThreadSanitizer: data race" "$planted" \
  || { echo "the planted missing acquire was not reported as a data race; see $planted" >&2; exit 1; }
echo "planted missing acquire: reported by ThreadSanitizer"
