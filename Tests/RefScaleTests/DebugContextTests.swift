import Testing
@testable import RefScale
@testable import RefScaleHarness

/// One debug run in collect mode over a small pool: `context` belongs to the test's thread
/// (thread 1); other contexts of the same run are made with `makeContext`.
final class DebugFixture<S: UniversalScheme> {
    let pool: ObjectPool
    let shared: DebugShared<S.Shared>
    var context: DebugContext<S>

    init(objects: Int = 4, closedQueue: Int = 1024, backtraces: Bool = false, onViolation: ViolationPolicy = .collect) throws {
        var options = SchemeOptions()
        options.debug.onViolation = onViolation
        options.debug.closedQueue = closedQueue
        options.debug.backtraces = backtraces
        pool = ObjectPool(count: objects, alignment: options.objectAlignment)
        shared = try DebugContext<S>.makeShared(options: options, threads: 2)
        context = DebugContext<S>(shared: shared, threadID: 1)
    }

    deinit { pool.deallocate() }

    func makeContext(threadID: Int) -> DebugContext<S> { DebugContext<S>(shared: shared, threadID: threadID) }

    var summary: ContractSummary { DebugContext<S>.contractSummary(of: shared)! }
    var reports: [ViolationReport] { summary.reports }
    var kinds: [ViolationKind] { reports.map(\.kind) }

    /// Ends the test thread's context and checks every object's life: born once, freed once
    /// (immortal ones never), nothing written after free. Nil when all is well.
    func finish() -> String? {
        context.safePoint()
        context.threadExit()
        return pool.validateLifetimes()
    }
}

/// The schemes the per-check tests run on: the two handle designs and a counting scheme.
func onHandleSchemes(_ body: (any UniversalScheme.Type) throws -> Void) rethrows {
    try body(HandleLocalScheme.self)
    try body(ArenaScheme.self)
    try body(AtomicScheme.self)
}

@Suite(.tags(.threaded)) struct DebugContextTests {
    // MARK: 1. wrong thread

    @Test func handleUsedByAnotherThreadIsReportedWithItsOwnerAndWhereItWasOpened() throws {
        try onHandleSchemes { try wrongThread($0) }
    }

    func wrongThread<S: UniversalScheme>(_: S.Type) throws {
        let f = try DebugFixture<S>()
        let object = f.pool.bear(0, flags: [.shared])
        let handle = f.context.new(object)
        nonisolated(unsafe) var reportsBeforeTwin = -1
        nonisolated(unsafe) let fixture = f
        let other = WorkerThread {
            var context = fixture.makeContext(threadID: 2)
            _ = context.read(handle)
            reportsBeforeTwin = fixture.reports.count
            let own = context.open(object)
            _ = context.read(own)
            context.close(own)
            context.safePoint()
            context.threadExit()
        }
        other.join()
        #expect(reportsBeforeTwin == 1)
        #expect(f.kinds == [.wrongThread], "\(S.name)")
        let report = try #require(f.reports.first)
        #expect(report.thread == 2 && report.owner == 1 && report.handle == handle.bits)
        #expect(report.openedAt == 0, "the handle was made by thread 1's first call")
        f.context.close(handle)
        #expect(f.finish() == nil)
    }

    // MARK: 2 and 3. use after close, double close

    @Test func useAfterCloseIsReportedAndUseBeforeCloseIsNot() throws {
        try onHandleSchemes { try useAfterClose($0) }
    }

    func useAfterClose<S: UniversalScheme>(_: S.Type) throws {
        let f = try DebugFixture<S>()
        let handle = f.context.new(f.pool.bear(0, flags: []))
        let duplicate = f.context.dup(handle)
        _ = f.context.read(duplicate)
        f.context.close(duplicate)
        #expect(f.reports.isEmpty, "\(S.name): the legal twin")
        #expect(f.context.read(duplicate) == 0, "a use after close is neutralised")
        let standIn = f.context.dup(duplicate)
        #expect(f.kinds == [.useAfterClose, .useAfterClose], "\(S.name)")
        let report = try #require(f.reports.first)
        #expect(report.operationIndex == 4 && report.openedAt == 1 && report.closedAt == 3)
        // The failed dup yielded an open handle to the immortal stand-in, closed like any other.
        f.context.close(standIn)
        f.context.close(handle)
        #expect(f.reports.count == 2)
        #expect(f.finish() == nil)
    }

    @Test func doubleCloseIsReportedAndASingleCloseIsNot() throws {
        try onHandleSchemes { try doubleClose($0) }
    }

    func doubleClose<S: UniversalScheme>(_: S.Type) throws {
        let f = try DebugFixture<S>()
        let object = f.pool.bear(0, flags: [])
        let handle = f.context.new(object)
        let duplicate = f.context.dup(handle)
        f.context.close(duplicate)
        #expect(f.reports.isEmpty, "\(S.name): the legal twin")
        f.context.close(duplicate)
        #expect(f.kinds == [.doubleClose], "\(S.name)")
        #expect(f.reports.first?.closedAt == 2)
        f.context.close(handle)
        #expect(f.finish() == nil, "the second close was not performed: the object is freed once")
        #expect(object.timesFreed == 1)
    }

    // MARK: 4. leaks

    @Test func handlesOpenAtScopeExitAreLeaksListedWithWhereEachWasOpened() throws {
        try onHandleSchemes { try leaks($0) }
    }

    func leaks<S: UniversalScheme>(_: S.Type) throws {
        let f = try DebugFixture<S>()
        let object = f.pool.bear(0, flags: [])
        let handle = f.context.new(object)
        f.context.enterScope()
        f.context.close(f.context.dup(handle))
        f.context.exitScope()
        #expect(f.reports.isEmpty, "\(S.name): the legal twin")
        f.context.enterScope()
        _ = f.context.dup(handle)
        _ = f.context.dup(handle)
        f.context.exitScope()
        #expect(f.kinds == [.leak, .leak], "\(S.name)")
        #expect(f.reports.map(\.openedAt) == [6, 7])
        #expect(f.reports.allSatisfy { $0.operationIndex == 8 && $0.handleDepth == 1 })
        f.context.close(handle)
        #expect(f.finish() == nil, "the debug context closed the leaked handles, so the counts are exact")
        #expect(object.timesFreed == 1)
    }

    /// A module's exec slots' leak (`UniversalTable.disown`): the debug context reports it on
    /// stderr, closes it, and neither files nor counts it, even under `abort`, which would stop
    /// the test process here had it filed the report.
    @Test func aHandleClosedOnAModulesBehalfIsClosedAndNeitherCountedNorStopsTheRun() throws {
        try onHandleSchemes { try closedOnBehalf($0) }
    }

    func closedOnBehalf<S: UniversalScheme>(_: S.Type) throws {
        let f = try DebugFixture<S>(onViolation: .abort)
        let object = f.pool.bear(0, flags: [])
        f.context.enterScope()
        let handle = f.context.new(object)
        f.context.withTableCaller { $0.closeOnBehalf(handle) }
        f.context.exitScope()
        #expect(f.summary.total == 0, "\(S.name)")
        #expect(f.finish() == nil, "the handle was closed on the module's behalf: the object is freed once")
        #expect(object.timesFreed == 1)
    }

    @Test func handlesOpenAtThreadExitAreLeaks() throws {
        let f = try DebugFixture<HandleLocalScheme>()
        _ = f.context.new(f.pool.bear(0, flags: []))
        #expect(f.finish() == nil)
        #expect(f.kinds == [.leak])
        #expect(f.reports.first?.operationName == "thread exit")
    }

    // MARK: 5. escapes

    @Test func handleUsedAfterItsScopeExitedEscapes() throws {
        try onHandleSchemes { try keptPastExit($0) }
    }

    func keptPastExit<S: UniversalScheme>(_: S.Type) throws {
        let f = try DebugFixture<S>()
        let handle = f.context.new(f.pool.bear(0, flags: []))
        f.context.enterScope()
        let kept = f.context.dup(handle)
        f.context.exitScope()
        _ = f.context.read(kept)
        #expect(f.kinds == [.leak, .escape], "\(S.name): the leak at exit, then the escape at the use")
        #expect(f.reports.last?.closedAt == 3, "the scope exited at call 3")
        f.context.close(handle)
        #expect(f.finish() == nil)
    }

    @Test func handleStoredOrSentUnconvertedEscapesAndTheConvertedStoreDoesNot() throws {
        try onHandleSchemes { try unconverted($0) }
    }

    func unconverted<S: UniversalScheme>(_: S.Type) throws {
        let f = try DebugFixture<S>()
        let handle = f.context.new(f.pool.bear(0, flags: []))
        f.context.enterScope()
        let local = f.context.dup(handle)
        // The legal twin: the kernel's store converts (HPyField_Store): object(of:) and retain.
        let object = f.context.object(of: local)
        f.context.retain(object)
        f.context.release(object)
        #expect(f.reports.isEmpty, "\(S.name): retaining a local handle's object is legal")
        for route in [EscapeRoute.field, .global, .channel] { f.context.escapeUnconverted(local, to: route) }
        #expect(f.kinds == [.escape, .escape, .escape], "\(S.name)")
        #expect(f.reports.map(\.operationName) == [
            "store of the handle itself into a field", "store of the handle itself into a global", "send of the handle itself",
        ])
        f.context.close(local)
        f.context.exitScope()
        f.context.close(handle)
        #expect(f.finish() == nil, "nothing was kept: the counts are exact")
    }

    // MARK: 6. borrowed handles

    @Test func closingOrReturningABorrowedHandleIsReportedAndDupingItFirstIsNot() throws {
        try onHandleSchemes { try borrowed($0) }
    }

    func borrowed<S: UniversalScheme>(_: S.Type) throws {
        let f = try DebugFixture<S>()
        let argument = f.context.new(f.pool.bear(0, flags: []))
        f.context.enterScope()
        // The legal twins: a dup of the argument may be closed, or returned.
        f.context.close(f.context.dup(argument))
        let returned = f.context.returning(f.context.dup(argument))
        f.context.exitScope()
        f.context.close(returned)
        #expect(f.reports.isEmpty, "\(S.name): the legal twins")
        f.context.enterScope()
        f.context.close(argument)
        #expect(f.context.returning(argument) == argument, "the borrowed handle is returned as it was")
        f.context.exitScope()
        #expect(f.kinds == [.closeBorrowed, .closeBorrowed], "\(S.name)")
        #expect(f.reports.map(\.operationName) == ["close", "return"])
        #expect(f.reports.allSatisfy { $0.depth == 1 && $0.handleDepth == 0 })
        _ = f.context.read(argument)
        #expect(f.reports.count == 2, "the argument was neither closed nor moved")
        f.context.close(argument)
        #expect(f.finish() == nil)
    }

    // MARK: 7. wrong context

    @Test func contextCalledByAnotherThreadIsReportedInTheCallersContextAndNotPerformed() throws {
        try onHandleSchemes { try wrongContext($0) }
    }

    func wrongContext<S: UniversalScheme>(_: S.Type) throws {
        let f = try DebugFixture<S>()
        let handle = f.context.new(f.pool.bear(0, flags: []))
        nonisolated(unsafe) let fixture = f
        let borrowedContext = f.context
        let other = WorkerThread {
            var own = fixture.makeContext(threadID: 2)
            let mine = own.new(fixture.pool.bear(1, flags: []))
            _ = own.read(mine)
            var foreign = borrowedContext
            _ = foreign.dup(handle)
            foreign.close(handle)
            own.close(mine)
            own.safePoint()
            own.threadExit()
        }
        other.join()
        #expect(f.kinds == [.wrongContext, .wrongContext], "\(S.name)")
        #expect(f.reports.allSatisfy { $0.thread == 2 && $0.owner == 1 })
        #expect(f.reports.map(\.operationIndex) == [2, 3], "indexes in the calling thread's own stream")
        _ = f.context.read(handle)
        #expect(f.reports.count == 2, "the handle is still open: the foreign close was not performed")
        f.context.close(handle)
        #expect(f.finish() == nil)
    }

    // MARK: Records and the closed queue

    @Test func twoHandlesToOneObjectAreDistinctRecords() throws {
        let f = try DebugFixture<HandleLocalScheme>()
        let handle = f.context.new(f.pool.bear(0, flags: []))
        let first = f.context.dup(handle)
        let second = f.context.dup(handle)
        // Under handle-local both duplicates are the same inner handle (one table slot).
        #expect(Set([handle, first, second]).count == 3)
        f.context.close(first)
        _ = f.context.read(second)
        #expect(f.reports.isEmpty, "closing one duplicate leaves the other open")
        f.context.close(first)
        #expect(f.kinds == [.doubleClose])
        f.context.close(second)
        f.context.close(handle)
        #expect(f.finish() == nil)
    }

    @Test func useAfterCloseIsCaughtUntilTheRecordIsReusedAfterTheClosedQueue() throws {
        let queue = 4
        let f = try DebugFixture<HandleLocalScheme>(closedQueue: queue)
        let handle = f.context.new(f.pool.bear(0, flags: []))
        let closed = f.context.dup(handle)
        f.context.close(closed)
        for _ in 0..<queue { f.context.close(f.context.dup(handle)) }
        // Just inside: `queue` records closed after it, and none reused yet.
        _ = f.context.read(closed)
        #expect(f.kinds == [.useAfterClose])
        // Just outside: more than `queue` wait, so the next open reuses the oldest, its record.
        let reused = f.context.dup(handle)
        #expect(reused == closed)
        _ = f.context.read(closed)
        #expect(f.reports.count == 1, "the stale handle now names an open record: not caught")
        f.context.close(reused)
        f.context.close(handle)
        #expect(f.finish() == nil)
    }

    @Test func nullAndForeignValuesAreInvalidHandles() throws {
        let f = try DebugFixture<HandleLocalScheme>()
        _ = f.context.read(.null)
        _ = f.context.read(Handle(bits: 0x7777_0000_0001))
        #expect(f.kinds == [.invalidHandle, .invalidHandle])
        #expect(f.finish() == nil)
    }

    @Test func reportNamesKindThreadHandleCallAndOpening() throws {
        let f = try DebugFixture<HandleLocalScheme>()
        let handle = f.context.new(f.pool.bear(0, flags: []))
        f.context.close(handle)
        f.context.close(handle)
        let text = try #require(f.reports.first).description
        #expect(text == "double-close: thread 1 closed handle 0x\(String(handle.bits, radix: 16)) at op 2 (close); it was opened at op 0 and already closed at op 1")
        #expect(f.finish() == nil)
    }

    @Test func checkedCallsAreCountedAndAllKindsAreSummed() throws {
        let f = try DebugFixture<ArenaScheme>()
        let handle = f.context.new(f.pool.bear(0, flags: []))
        f.context.enterScope()
        _ = f.context.dup(handle)
        f.context.exitScope()
        f.context.close(handle)
        f.context.close(handle)
        #expect(f.finish() == nil)
        #expect(f.summary.checkedOperations == 6)
        #expect(f.summary.counts == [.leak: 1, .doubleClose: 1])
        #expect(f.summary.countsText == "double-close=1;leak=1")
    }
}

@Suite struct DebugBacktraceTests {
    /// Opens a handle the caller then leaks; a named function, so the opening stack can be checked.
    /// Unoptimised, so an optimised build keeps its frame (no inlining, no tail call into `open`).
    @_optimize(none)
    static func openTheHandleThatLeaks<S: UniversalScheme>(_ context: inout DebugContext<S>, _ object: ObjectRef) -> Handle {
        context.open(object)
    }

    @Test func withBacktracesALeakReportSaysWhereTheHandleWasOpened() throws {
        let f = try DebugFixture<HandleLocalScheme>(backtraces: true)
        let object = f.pool.bear(0, flags: [])
        let made = f.context.new(object)
        f.context.enterScope()
        _ = Self.openTheHandleThatLeaks(&f.context, object)
        f.context.exitScope()
        f.context.close(made)
        let leak = try #require(f.reports.first { $0.kind == .leak })
        let opening = try #require(leak.openingBacktrace)
        #expect(opening.contains { $0.contains("openTheHandleThatLeaks") }, "\(opening)")
        #expect(leak.fullText.contains("the handle was opened at:"))
        #expect(leak.backtrace?.isEmpty == false, "the stack of the scope exit that found the leak")
        #expect(f.finish() == nil)
    }

    @Test func withoutBacktracesNoStackIsKept() throws {
        let f = try DebugFixture<HandleLocalScheme>()
        let object = f.pool.bear(0, flags: [])
        let made = f.context.new(object)
        f.context.enterScope()
        _ = Self.openTheHandleThatLeaks(&f.context, object)
        f.context.exitScope()
        f.context.close(made)
        let leak = try #require(f.reports.first { $0.kind == .leak })
        #expect(leak.openingBacktrace == nil && leak.backtrace == nil)
        #expect(!leak.fullText.contains("opened at:"))
        #expect(f.finish() == nil)
    }
}
