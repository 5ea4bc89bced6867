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
        // Bounds from another count: no more objects alive at once, nor freed in the interval,
        // than were born in the whole run (`objects_allocated`, the pool's births).
        let born = try #require(Int(row["objects_allocated"].text))
        #expect(row.outcome.retention.measuredFrees > 0 && row.outcome.retention.measuredFrees <= born, "\(row.outcome.retention) of \(born) born")
        #expect(row.outcome.retention.freeDelayMax == 0)
        #expect(row.outcome.retention.peakLiveObjects > 0 && row.outcome.retention.peakLiveObjects <= born, "\(row.outcome.retention) of \(born) born")
    }

    @Test func biasedFreesWhatAnotherThreadDroppedOnlyAtTheOwnersMerge() throws {
        let row = try shortRun(Registry.scheme(named: BiasedScheme.name), workload: "handoff", threads: 2)
        #expect(row.isValid)
        // The interval's frees are some of the run's, which the scheme counts itself (`frees`).
        let frees = try #require(Int(row["frees"].text))
        #expect(row.outcome.retention.measuredFrees > 0 && row.outcome.retention.measuredFrees <= frees, "\(row.outcome.retention), \(frees) frees")
        #expect(row.outcome.retention.freeDelayMean > 0)
        #expect((Int(row["free_delay_max_ops"].text) ?? 0) >= 1, "free_delay_max_ops '\(row["free_delay_max_ops"].text)'")
        // The same stream under atomic frees at the consumer's last drop: the delay is biased's.
        let atomic = try shortRun(Registry.scheme(named: AtomicScheme.name), workload: "handoff", threads: 2)
        #expect(atomic.isValid && atomic["free_delay_max_ops"].text == "0", "atomic: free_delay_max_ops '\(atomic["free_delay_max_ops"].text)'")
    }

    @Test func theArenaReleasesACallsTemporariesAtItsExitAfterTheirLastClose() throws {
        let row = try shortRun(Registry.scheme(named: ArenaScheme.name), workload: "call", threads: 1)
        #expect(row.outcome.retention.freeDelayMean > 0)
        let atomic = try shortRun(Registry.scheme(named: AtomicScheme.name), workload: "call", threads: 1)
        #expect(atomic.outcome.retention.freeDelayMax == 0)
        let frees = try #require(Int(atomic["frees"].text))
        #expect(atomic.outcome.retention.measuredFrees > 0 && atomic.outcome.retention.measuredFrees <= frees, "\(atomic.outcome.retention), \(frees) frees")
    }
}
