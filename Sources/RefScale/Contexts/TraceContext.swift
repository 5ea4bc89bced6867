import CRefScale
import Synchronization

/// The functions the trace context counts, each the table entry (or entries) an extension calls.
/// `store` is the reference a field or global store takes (`retain`), `send` the conversion of a
/// handle for another thread (`transfer`), `receive` its adoption (`adopt`), `number` the making
/// of a number (`immediate`; a number the scheme boxes is then a `new` or an `open` too).
public enum TracedFunction: Int, CaseIterable, Sendable {
    case open, dup, close, read, new, store, load, enter, exit, send, receive, number

    public var name: String { String(describing: self) }
}

/// What the trace contexts of a run counted: per function, the calls and their total time
/// (nanoseconds; 0 with `--trace-timing off`).
public struct CallTraceSummary: Sendable, Equatable {
    public var calls = [Int](repeating: 0, count: TracedFunction.allCases.count)
    public var nanoseconds = [Int](repeating: 0, count: TracedFunction.allCases.count)
    public var timed = true

    public subscript(calls function: TracedFunction) -> Int { calls[function.rawValue] }
    public subscript(nanoseconds function: TracedFunction) -> Int { nanoseconds[function.rawValue] }
}

/// The run's share of the trace: each thread adds its counts when it exits.
public final class TraceShared<Inner: AnyObject>: @unchecked Sendable {
    public let inner: Inner
    let timing: Bool
    let total: LockedValue<CallTraceSummary>

    init(inner: Inner, timing: Bool) {
        self.inner = inner
        self.timing = timing
        var empty = CallTraceSummary()
        empty.timed = timing
        total = LockedValue(empty)
    }
}

/// One thread's trace: its table of wrapped entries first (the state every entry takes is this
/// record's address), the universal caller it forwards to, and its counts in plain memory of its
/// own, which no other thread touches until it exits.
struct CallTraceThread {
    var table: UniversalTable
    let inner: TableCaller
    let timing: Bool
    let calls: UnsafeMutablePointer<Int>
    let nanoseconds: UnsafeMutablePointer<Int>

    /// Counts the call and, with timing, times it with the monotonic clock around the inner call
    /// (HPy's trace mode reads a clock before and after each call the same way).
    @inline(__always)
    static func traced(_ state: UnsafeMutableRawPointer, _ function: TracedFunction, _ call: (TableCaller) -> UInt64) -> UInt64 {
        let thread = state.assumingMemoryBound(to: CallTraceThread.self)
        let index = function.rawValue
        thread.pointee.calls[index] &+= 1
        guard thread.pointee.timing else { return call(thread.pointee.inner) }
        let start = crefscale_clock_monotonic_ns()
        let result = call(thread.pointee.inner)
        thread.pointee.nanoseconds[index] &+= Int(truncatingIfNeeded: crefscale_clock_monotonic_ns() &- start)
        return result
    }

    @inline(__always)
    static func forward(_ state: UnsafeMutableRawPointer) -> TableCaller {
        state.assumingMemoryBound(to: CallTraceThread.self).pointee.inner
    }

    /// The wrapped entries: written once, for every scheme, since they reach the scheme only
    /// through the inner caller.
    static let table = UniversalTable(
        new: { s, w in traced(s, .new) { $0.table.pointee.new($0.state, w) } },
        open: { s, w in traced(s, .open) { $0.table.pointee.open($0.state, w) } },
        load: { s, w in traced(s, .load) { $0.table.pointee.load($0.state, w) } },
        dup: { s, w in traced(s, .dup) { $0.table.pointee.dup($0.state, w) } },
        close: { s, w in traced(s, .close) { $0.table.pointee.close($0.state, w) } },
        read: { s, w in traced(s, .read) { $0.table.pointee.read($0.state, w) } },
        object: { s, w in let inner = forward(s); return inner.table.pointee.object(inner.state, w) },
        retain: { s, w in traced(s, .store) { $0.table.pointee.retain($0.state, w) } },
        release: { s, w in let inner = forward(s); return inner.table.pointee.release(inner.state, w) },
        transfer: { s, w in traced(s, .send) { $0.table.pointee.transfer($0.state, w) } },
        adopt: { s, w in traced(s, .receive) { $0.table.pointee.adopt($0.state, w) } },
        returning: { s, w in let inner = forward(s); return inner.table.pointee.returning(inner.state, w) },
        enterScope: { s, w in traced(s, .enter) { $0.table.pointee.enterScope($0.state, w) } },
        exitScope: { s, w in traced(s, .exit) { $0.table.pointee.exitScope($0.state, w) } },
        immediate: { s, w in traced(s, .number) { $0.table.pointee.immediate($0.state, w) } })
}

/// `trace`: scheme `S` behind the universal table with every entry an extension calls wrapped
/// to count its calls and, with `--trace-timing on` (the default), time them, as HPy's trace
/// mode wraps the universal context (hpy/trace: a call count and a duration per function). The
/// kernel calls through the thread's trace table as it calls through a universal one; each entry
/// counts, reads the clock, and goes on through the inner universal table. Nothing else changes.
///
/// Invariants:
/// - Each thread's counts are its own until it exits, when they are added to the run's total
///   under a lock; the total is read when no thread runs.
/// - A traced call is one more indirect call, a counter increment and, timed, two clock reads
///   over `universal`; the harness's own hooks (`safePoint`, `suspend`, `threadExit`) are not
///   traced, as an extension never calls them.
public struct TraceContext<S: UniversalScheme>: TableContext {
    public typealias Inner = S
    public typealias Shared = TraceShared<S.Shared>

    public static func failure(of shared: Shared) -> String? { S.failure(of: shared.inner) }

    var universal: UniversalContext<S>
    let thread: UnsafeMutablePointer<CallTraceThread>
    let shared: Unmanaged<Shared>

    public static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared {
        TraceShared(inner: try S.makeShared(options: options, threads: threads), timing: options.traceTiming)
    }

    public init(shared: Shared, threadID: Int) {
        universal = UniversalContext<S>(shared: shared.inner, threadID: threadID)
        let functions = TracedFunction.allCases.count
        let calls = UnsafeMutablePointer<Int>.allocate(capacity: 2 * functions)
        calls.initialize(repeating: 0, count: 2 * functions)
        thread = .allocate(capacity: 1)
        precondition(MemoryLayout<CallTraceThread>.offset(of: \.table) == 0, "the trace table must open CallTraceThread")
        thread.initialize(to: CallTraceThread(
            table: CallTraceThread.table, inner: universal.caller, timing: shared.timing, calls: calls,
            nanoseconds: calls + functions))
        self.shared = Unmanaged.passUnretained(shared)
    }

    @inline(__always)
    public var caller: TableCaller { TableCaller(table: UnsafeMutableRawPointer(thread).assumingMemoryBound(to: UniversalTable.self), state: UnsafeMutableRawPointer(thread)) }

    public mutating func safePoint() { universal.safePoint() }
    public mutating func settle() { universal.settle() }
    public mutating func suspend() { universal.suspend() }
    public mutating func resume() { universal.resume() }

    /// Adds the thread's counts to the run's, then ends the inner context.
    public mutating func threadExit() {
        let record = thread.pointee
        let functions = TracedFunction.allCases.count
        shared.takeUnretainedValue().total.withLock { total in
            for index in 0..<functions {
                total.calls[index] += record.calls[index]
                total.nanoseconds[index] += record.nanoseconds[index]
            }
        }
        record.calls.deallocate()
        thread.deinitialize(count: 1)
        thread.deallocate()
        universal.threadExit()
    }

    public var counters: SchemeCounters { universal.counters }

    public static func traceSummary(of shared: Shared) -> CallTraceSummary? { shared.total.withLock { $0 } }
}
