import Testing
@testable import RefScale
@testable import RefScaleHarness

/// Peak live objects and the delay from last reference dropped to free (`ObjectPool+Retention`,
/// `LastDrops`).
@Suite("memory retained by deferral", .tags(.threaded))
struct RetentionTests {
    @Test func lastDropsMarksTheCloseThatEndsAMadeObjectAndNotItsDuplicates() {
        let pass: [Operation] = [.enter, .create(into: 0), .dup(0, into: 1), .close(1), .read(0), .close(0), .exit]
        let marked = LastDrops.mark([pass])[0]
        #expect(marked[3].code == Operation.Code.close.rawValue)
        #expect(marked[5] == .closeLast(0, at: 4))
        #expect(marked[6] == .positioned(.exit, at: 5))
    }

    @Test func lastDropsFollowsAStoredObjectToTheStoreThatReplacesIt() {
        // The pass stores into field 0 what the next pass's store replaces.
        let pass: [Operation] = [.create(into: 0), .store(0, into: .field(0)), .close(0)]
        let marked = LastDrops.mark([pass])[0]
        #expect(marked[1].dropsLast)
        #expect(marked[2].code == Operation.Code.close.rawValue)
    }

    @Test func lastDropsFollowsNothingSentWhileTheSenderKeepsAReference() {
        let producer: [Operation] = [.create(into: 0), .dup(0, into: 1), .send(1, to: 0), .close(0)]
        let consumer: [Operation] = [.receive(from: 0, into: 0), .close(0)]
        let marked = LastDrops.mark([producer, consumer])
        #expect(marked[1][1].code == Operation.Code.close.rawValue)
        let moved = LastDrops.mark([[.create(into: 0), .send(0, to: 0)], consumer])
        #expect(moved[1][1].code == Operation.Code.closeLast.rawValue)
    }

    @Test func objectsOfANoopRunAreFreedAtTheirLastDrop() throws {
        let row = try shortRun(Registry.scheme(named: NoopScheme.name), workload: "churn", threads: 2)
        #expect(row.outcome.retention.measuredFrees > 0)
        #expect(row.outcome.retention.freeDelayMax == 0)
        #expect(row.outcome.retention.peakLiveObjects > 0)
    }

    @Test func biasedFreesWhatAnotherThreadDroppedOnlyAtTheOwnersMerge() throws {
        let row = try shortRun(Registry.scheme(named: BiasedScheme.name), workload: "handoff", threads: 2)
        #expect(row.isValid)
        #expect(row.outcome.retention.measuredFrees > 0)
        #expect(row.outcome.retention.freeDelayMean > 0)
        #expect(row["free_delay_max_ops"].text == String(row.outcome.retention.freeDelayMax))
    }

    @Test func theArenaReleasesACallsTemporariesAtItsExitAfterTheirLastClose() throws {
        let row = try shortRun(Registry.scheme(named: ArenaScheme.name), workload: "call", threads: 1)
        #expect(row.outcome.retention.freeDelayMean > 0)
        let atomic = try shortRun(Registry.scheme(named: AtomicScheme.name), workload: "call", threads: 1)
        #expect(atomic.outcome.retention.freeDelayMax == 0)
        #expect(atomic.outcome.retention.measuredFrees > 0)
    }
}
