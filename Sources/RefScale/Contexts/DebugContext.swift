/// `debug`: scheme `S` behind the universal table with every entry wrapped by the handle
/// contract's checks, as HPy's debug mode wraps the universal context. The kernel calls through
/// the thread's debug table exactly as it calls through a universal one; each debug entry
/// checks the call (`DebugThread`) and goes on through the inner universal table. Nothing else
/// changes: no other code asks whether it runs in debug mode.
///
/// The checks (DESIGN.md's seven, `ViolationKind`) and how each sees its violation:
/// 1. wrong-thread: a handle carries the ID of the context that made it; another context's ID is
///    a handle used outside its thread.
/// 2, 3. use-after-close, double-close: the handle's record is closed (it waits in the closed
///    queue of `--closed-queue` records) or left the queue and was not yet reused.
/// 4. leak: a record still open when its scope exits (or its thread), listed with where each
///    was opened.
/// 5. escape: a record used after its scope exited (it expired there as a leak); or a handle
///    the extension keeps in a field or global, or sends, as it is
///    (`escapeUnconverted`: the kernel's `storeUnconverted` and `sendUnconverted`). The kernel's
///    `store` and `send` are the conversions (HPyField_Store, a shared container's store): they
///    call `object(of:)` and `retain`, or `transfer`, which are legal on any open handle.
/// 6. close-borrowed: a handle made by an outer scope (an argument) closed, sent or returned by
///    an inner one. Borrowing follows from the record's depth, so no flag has to be set on enter.
/// 7. wrong-context: a context called by a thread that does not own it.
///
/// With `--on-violation abort` the first report stops the program; with `collect` it is counted
/// and kept, and the call is neutralised (see `DebugThread`), so the run's counts stay exact and
/// its validation means what it always means.
public struct DebugContext<S: UniversalScheme>: TableContext {
    public typealias Inner = S
    public typealias Shared = DebugShared<S.Shared>

    public static func failure(of shared: Shared) -> String? { S.failure(of: shared.inner) }

    var universal: UniversalContext<S>
    /// The thread's `DebugThread`, whose first field is its debug table: the state every entry
    /// takes is the table's own address.
    let thread: UnsafeMutableRawPointer

    public static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared {
        try options.debug.validate()
        return DebugShared(inner: try S.makeShared(options: options, threads: threads), run: DebugRun(options: options.debug, threads: threads))
    }

    public init(shared: Shared, threadID: Int) {
        universal = UniversalContext<S>(shared: shared.inner, threadID: threadID)
        precondition(MemoryLayout<DebugThread>.offset(of: \.table) == 0, "the debug table must open DebugThread")
        thread = UnsafeMutableRawPointer(shared.run.makeThread(threadID: threadID, inner: universal.caller))
    }

    @inline(__always)
    public var caller: TableCaller { TableCaller(table: thread.assumingMemoryBound(to: UniversalTable.self), state: thread) }

    public mutating func escapeUnconverted(_ handle: Handle, to route: EscapeRoute) {
        DebugEntries.escape(caller.state, handle.bits, to: route)
    }

    public mutating func safePoint() { universal.safePoint() }
    public mutating func settle() { universal.settle() }
    public mutating func suspend() { universal.suspend() }
    public mutating func resume() { universal.resume() }

    /// Reports what is still open (and closes it), then ends the inner context.
    public mutating func threadExit() {
        DebugEntries.threadExit(caller.state)
        universal.threadExit()
    }

    public var counters: SchemeCounters { universal.counters }

    public static func contractSummary(of shared: Shared) -> ContractSummary? { shared.run.summary() }
}
