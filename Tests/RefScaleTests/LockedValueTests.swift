import Testing
@testable import RefScale
@testable import RefScaleHarness

/// `LockedValue` is the lock every shared total, cache and recording sits behind, because
/// ThreadSanitizer sees its handovers. Two threads add to one plain integer through it, as fast as
/// they can, so that they meet at the lock and take it on its contended path; the total must be
/// every addition, and under ThreadSanitizer (Tests/tsan-tests.sh) the step reports a race if a
/// handover on that path goes unseen, as it did with `Synchronization.Mutex`, whose contended
/// path waits on a futex inside the uninstrumented standard library.
@Suite(.tags(.threaded)) struct LockedValueTests {
    static let additionsPerThread = 200_000

    @Test func twoThreadsMeetingAtTheLockKeepEveryAddition() {
        let total = LockedValue(0)
        let threads = (0..<2).map { _ in
            WorkerThread {
                for _ in 0..<Self.additionsPerThread { total.withLock { $0 += 1 } }
            }
        }
        threads.forEach { $0.join() }
        #expect(total.withLock { $0 } == 2 * Self.additionsPerThread)
    }
}
