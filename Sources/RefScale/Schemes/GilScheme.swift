import CRefScale
import Glibc
import Synchronization

/// `gil`: `nonatomic` counting inside one global lock, as CPython with its GIL. A thread holds
/// the lock for a slice (`--gil-slice`, 5 ms by default: CPython's switch interval), then lets
/// the other threads have it, so threads take turns and never count at the same time.
///
/// Invariants:
/// - Every counting operation (`new`, `open`, `dup`, `close`) runs while its thread holds the
///   lock, so the plain counts of `nonatomic` are never read or written by two threads at once.
///   `read` takes no count and does not need the lock.
/// - A thread takes the lock lazily, before its first counting operation after it last gave it
///   up: one predictable branch per operation, on a field of the thread's own context.
/// - The lock is given up in `suspend()` (before the start barrier, so no thread waits there
///   holding it) and in `threadExit()`; a thread that holds no lock then does nothing there.
/// - The clock is read only where the lock is taken and at `safePoint()`. At a safe point whose
///   slice has expired the thread gives the lock up and takes a new place in line at once.
/// - The lock is a ticket lock: threads are served in the order they asked, so a thread that
///   gives the lock up and asks again is served after every thread already waiting — a real
///   turn, never the same thread winning its own release. A waiter yields its CPU while it
///   waits, so threads beyond the online CPUs still reach their turn.
/// - `lock_handoffs` counts the acquisitions whose previous holder was another thread.
/// - The lock lives in raw memory, each word on its own 128-byte line; a context holds only a
///   pointer to it.
public struct GilScheme: CountingScheme {
    public static let name = "gil"
    public static let summary = "nonatomic counts inside one global lock held for a slice (CPython with its GIL)"
    public static let reportedCounters: Set<CounterKind> = [.frees, .lockHandoffs]
    public static let isThreadSafe = true
    /// How long a thread holds the global lock before it lets others take it: CPython's switch
    /// interval (`sys.setswitchinterval`, 5 ms by default). `cpython` reads it too.
    public static let gilSlice = DeclaredOption<Double>(
        "gil_slice", default: 0.005, help: "gil, cpython: seconds a thread holds the global lock before letting others take it",
        check: { $0 > 0 && $0 <= 3600 ? nil : "must be a number of seconds > 0 and at most 3600, got \($0)" })
    public static let declaredOptions = [gilSlice.declaration]

    public final class Shared {
        let lock = GlobalLock()
        let sliceNanoseconds: UInt64

        init(sliceNanoseconds: UInt64) { self.sliceNanoseconds = sliceNanoseconds }

        deinit { lock.deallocate() }
    }

    var counting: NonatomicScheme
    let lock: GlobalLock
    let threadID: UInt32
    let sliceNanoseconds: UInt64
    /// Whether this thread holds the lock now.
    var holdsLock = false
    /// When the current slice ends (monotonic ns); meaningful only while `holdsLock`.
    var sliceEnd: UInt64 = 0
    var lockHandoffs = 0

    public var counters: SchemeCounters {
        var counters = counting.counters
        counters.lockHandoffs = lockHandoffs
        return counters
    }

    public static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared {
        Shared(sliceNanoseconds: max(1, UInt64(options[gilSlice] * 1e9)))
    }

    public init(shared: Shared, threadID: Int) {
        precondition(threadID > 0 && threadID <= Int(UInt32.max), "thread ID \(threadID) out of range")
        counting = NonatomicScheme(shared: NoSharedState(), threadID: threadID)
        lock = shared.lock
        self.threadID = UInt32(threadID)
        sliceNanoseconds = shared.sliceNanoseconds
    }

    /// Takes the lock if this thread does not hold it: the one branch each counting operation adds.
    @inline(__always)
    mutating func holdLock() {
        if _slowPath(!holdsLock) { acquire() }
    }

    @inline(never)
    mutating func acquire() {
        if lock.acquire(by: threadID) { lockHandoffs += 1 }
        holdsLock = true
        sliceEnd = crefscale_clock_monotonic_ns() &+ sliceNanoseconds
    }

    mutating func releaseIfHeld() {
        guard holdsLock else { return }
        holdsLock = false
        lock.release()
    }

    @inline(__always)
    public mutating func new(_ object: ObjectRef) -> Handle {
        holdLock()
        return counting.new(object)
    }

    @inline(__always)
    public mutating func open(_ object: ObjectRef) -> Handle {
        holdLock()
        return counting.open(object)
    }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        holdLock()
        return counting.dup(handle)
    }

    @inline(__always)
    public mutating func close(_ handle: Handle) {
        holdLock()
        counting.close(handle)
    }

    @inline(__always)
    public func read(_ handle: Handle) -> UInt64 { counting.read(handle) }

    @inline(__always)
    public func object(of handle: Handle) -> ObjectRef { counting.object(of: handle) }

    public mutating func retain(_ object: ObjectRef) {
        holdLock()
        counting.retain(object)
    }

    public mutating func release(_ object: ObjectRef) {
        holdLock()
        counting.release(object)
    }

    public mutating func transfer(_ handle: Handle) -> ObjectRef { counting.transfer(handle) }
    public mutating func adopt(_ object: ObjectRef) -> Handle { counting.adopt(object) }

    /// At the end of a slice: gives the lock up and asks again, behind every waiting thread.
    public mutating func safePoint() {
        counting.safePoint()
        guard holdsLock, crefscale_clock_monotonic_ns() >= sliceEnd else { return }
        releaseIfHeld()
        acquire()
    }

    public mutating func suspend() {
        counting.suspend()
        releaseIfHeld()
    }

    public mutating func resume() { counting.resume() }

    public mutating func threadExit() {
        counting.threadExit()
        releaseIfHeld()
    }

    public static func referenceCount(of object: ObjectRef) -> Int? { NonatomicScheme.referenceCount(of: object) }
}

extension GilScheme: UniversalScheme {
    public static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}

/// The global lock of `gil`: a ticket lock in raw memory. `nextTicket`, `nowServing` and
/// `lastHolder` each sit on their own 128-byte line. Only the holder writes `nowServing` and
/// `lastHolder`.
struct GlobalLock: @unchecked Sendable {
    let words: UnsafeMutableRawPointer

    static let lineSize = 128
    static let nextTicketLine = 0, nowServingLine = 1, lastHolderLine = 2

    init() {
        let bytes = 3 * GlobalLock.lineSize
        words = .allocate(byteCount: bytes, alignment: GlobalLock.lineSize)
        words.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    func deallocate() { words.deallocate() }

    @inline(__always)
    func word(_ line: Int) -> UnsafeMutablePointer<Atomic<UInt>> {
        (words + line * GlobalLock.lineSize).assumingMemoryBound(to: Atomic<UInt>.self)
    }

    /// Waits for this thread's turn and takes the lock. Returns whether the lock changed hands:
    /// its previous holder was another thread.
    func acquire(by thread: UInt32) -> Bool {
        let ticket = word(GlobalLock.nextTicketLine).pointee.wrappingAdd(1, ordering: .relaxed).oldValue
        let serving = word(GlobalLock.nowServingLine)
        while serving.pointee.load(ordering: .acquiring) != ticket { sched_yield() }
        let holder = word(GlobalLock.lastHolderLine)
        let previous = holder.pointee.load(ordering: .relaxed)
        holder.pointee.store(UInt(thread), ordering: .relaxed)
        return previous != 0 && previous != UInt(thread)
    }

    /// Passes the lock to the next ticket. Only the holder may call it.
    func release() {
        let serving = word(GlobalLock.nowServingLine)
        serving.pointee.store(serving.pointee.load(ordering: .relaxed) &+ 1, ordering: .releasing)
    }

    /// Whether some thread holds the lock or waits for it (read when no thread changes it).
    var isTaken: Bool {
        word(GlobalLock.nextTicketLine).pointee.load(ordering: .relaxed)
            != word(GlobalLock.nowServingLine).pointee.load(ordering: .relaxed)
    }
}
