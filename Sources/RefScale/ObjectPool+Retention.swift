import CRefScale
import Synchronization

/// What deferral costs in memory: how many objects are alive at once, and how long an object
/// stays alive after its last reference is dropped.
///
/// "Last reference dropped" is a property of the operation stream, the same for every scheme:
/// the operation that ends the last handle, field or in-flight reference the workload holds to
/// an object it made (`LastDrops` finds these operations before the run, by following every
/// reference through the thread's pass). When one runs, the dropping thread stamps the object
/// with its position (its handle operations so far) in a side table. Whoever frees the object
/// later (`ObjectPool.free`) reads the stamp and the dropping thread's position now; the
/// difference is the delay. A scheme that frees at once frees inside the dropping operation,
/// at delay 0.
///
/// A thread's position moves at the operations that may drop or free (`closeLast`, scope
/// entries and exits) and at the end of each pass; an ordinary dup, close, read or open does
/// not move it, so a free inside one of those (a table eviction, say) is measured from the
/// position of the last marked operation before it: the delay is rounded down by at most the
/// operations since then.
///
/// Live objects: each thread counts the births and frees it performs in its own line (one
/// load and store each, no atomic); their sum over threads is the live count, sampled at the
/// end of every pass by every worker, before its safe point runs deferred work.
///
/// Layout: the control block's line 0 holds, after the violation counts, the stamp table, the
/// pool's base, stride and thread slots (so the static `free` can reach them); each thread's
/// line holds its counters in the words after its free lists (`Word`).
extension ObjectPool {
    /// Words of a thread's control line (byte offsets). 0 and 8 are its free lists, 56 its
    /// region waits, 64 its remote free list.
    enum RetentionWord {
        /// Births less frees this thread performed (negative when it frees others' objects).
        static let live = 16
        static let peakLive = 24
        static let delaySum = 32
        static let delayedFrees = 40
        static let delayMax = 48
        /// The thread's position, read by other threads when they free an object it dropped:
        /// on the half of the line other threads write anyway.
        static let position = 72
        /// Handle operations before the current pass.
        static let passStart = 80
    }

    /// Words of line 0 after the violation counts.
    enum RetentionControl {
        static let stamps = 16
        static let base = 24
        /// log2 of the stride (a power of two: the alignment, or 64 below it).
        static let strideShift = 32
        static let threadSlots = 40
    }

    /// The stamp's top 16 bits name the dropping thread; the rest is its position plus one (0:
    /// no stamp).
    static let stampThreadShift: UInt64 = 48
    static let stampPositionMask: UInt64 = (1 << 48) - 1

    static func word(_ line: UnsafeMutableRawPointer, _ offset: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (line + offset).assumingMemoryBound(to: Atomic<Int>.self)
    }

    /// Called once by `init`: the stamp table, and what `free` needs to find it.
    func prepareRetention() {
        let stamps = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: max(1, count))
        for index in 0..<max(1, count) { (stamps + index).initialize(to: Atomic(0)) }
        ObjectPool.word(control, RetentionControl.stamps).pointee.store(Int(bitPattern: UInt(bitPattern: stamps)), ordering: .relaxed)
        ObjectPool.word(control, RetentionControl.base).pointee.store(Int(bitPattern: UInt(bitPattern: base)), ordering: .relaxed)
        ObjectPool.word(control, RetentionControl.strideShift).pointee.store(strideShift, ordering: .relaxed)
        ObjectPool.word(control, RetentionControl.threadSlots).pointee.store(threadSlots, ordering: .relaxed)
    }

    func releaseRetention() {
        let stamps = ObjectPool.word(control, RetentionControl.stamps).pointee.load(ordering: .relaxed)
        UnsafeMutablePointer<Atomic<UInt64>>(bitPattern: stamps)?.deallocate()
    }

    @inline(__always)
    static func stampTable(_ control: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt64>> {
        UnsafeMutablePointer(bitPattern: word(control, RetentionControl.stamps).pointee.load(ordering: .relaxed))!
    }

    @inline(__always)
    static func stampIndex(_ object: ObjectRef, control: UnsafeMutableRawPointer) -> Int {
        let base = word(control, RetentionControl.base).pointee.load(ordering: .relaxed)
        let shift = word(control, RetentionControl.strideShift).pointee.load(ordering: .relaxed)
        return (Int(bitPattern: UInt(bitPattern: object.address)) &- base) &>> shift
    }

    /// The calling thread's line, or nil when the pool has no line for it (a pool made without
    /// thread slots, as unit tests make).
    @inline(__always)
    static func ownLine(_ control: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        let slot = Int(crefscale_thread_slot())
        guard slot >= 0 && slot < word(control, RetentionControl.threadSlots).pointee.load(ordering: .relaxed) else { return nil }
        return control + (1 + slot) * lineSize
    }

    @inline(__always)
    static func addLive(_ delta: Int, control: UnsafeMutableRawPointer) {
        guard let line = ownLine(control) else { return }
        let live = word(line, RetentionWord.live)
        live.pointee.store(live.pointee.load(ordering: .relaxed) &+ delta, ordering: .relaxed)
    }

    /// Called by `bear`: one more live object. (A new life starts unstamped: `noteFree` clears
    /// the stamp of the life before.)
    @inline(__always)
    static func noteBirth(_ object: ObjectRef, control: UnsafeMutableRawPointer) {
        addLive(1, control: control)
    }

    /// Called by `free` once the life is known to end here: one fewer live object, and the delay
    /// since the object's last reference was dropped, if the stream dropped it.
    static func noteFree(_ object: ObjectRef, control: UnsafeMutableRawPointer) {
        guard let line = ownLine(control) else { return }
        let live = word(line, RetentionWord.live)
        live.pointee.store(live.pointee.load(ordering: .relaxed) &- 1, ordering: .relaxed)
        // The dropper stamped before its drop, which the scheme orders before this free; no one
        // else touches the stamp now, so a load and a store suffice.
        let slot = stampTable(control) + stampIndex(object, control: control)
        let stamp = slot.pointee.load(ordering: .relaxed)
        guard stamp != 0 else { return }
        slot.pointee.store(0, ordering: .relaxed)
        let dropper = Int(stamp >> stampThreadShift)
        let dropped = Int(stamp & stampPositionMask) - 1
        let now = word(control + (1 + dropper) * lineSize, RetentionWord.position).pointee.load(ordering: .relaxed)
        let delay = max(0, now - dropped)
        // Plain load-and-store updates: only this thread writes its line's counters.
        let sum = word(line, RetentionWord.delaySum)
        sum.pointee.store(sum.pointee.load(ordering: .relaxed) &+ delay, ordering: .relaxed)
        let frees = word(line, RetentionWord.delayedFrees)
        frees.pointee.store(frees.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        let most = word(line, RetentionWord.delayMax)
        if delay > most.pointee.load(ordering: .relaxed) { most.pointee.store(delay, ordering: .relaxed) }
    }

    /// Thread `thread`'s handle to the ledger, made where it is used (pointer arithmetic only).
    @inline(__always)
    public func dropLedger(thread: Int) -> DropLedger {
        assert(thread >= 0 && thread < threadSlots, "thread \(thread) has no ledger line: the pool has \(threadSlots) thread slots")
        return DropLedger(line: control + (1 + thread) * ObjectPool.lineSize, control: control, thread: UInt64(thread))
    }

    /// Every thread's births less frees: the objects alive now (read while threads run, so an
    /// approximate sum of exact per-thread counts).
    public func liveObjects() -> Int {
        (0..<threadSlots).reduce(0) { $0 + ObjectPool.word(control + (1 + $1) * ObjectPool.lineSize, RetentionWord.live).pointee.load(ordering: .relaxed) }
    }

    /// What the run retained, once no thread runs.
    public func retention() -> Retention {
        var summary = Retention(peakLiveObjects: liveObjects(), measuredFrees: 0, freeDelaySum: 0, freeDelayMax: 0)
        for thread in 0..<threadSlots {
            let line = control + (1 + thread) * ObjectPool.lineSize
            summary.peakLiveObjects = max(summary.peakLiveObjects, ObjectPool.word(line, RetentionWord.peakLive).pointee.load(ordering: .relaxed))
            summary.measuredFrees += ObjectPool.word(line, RetentionWord.delayedFrees).pointee.load(ordering: .relaxed)
            summary.freeDelaySum += ObjectPool.word(line, RetentionWord.delaySum).pointee.load(ordering: .relaxed)
            summary.freeDelayMax = max(summary.freeDelayMax, ObjectPool.word(line, RetentionWord.delayMax).pointee.load(ordering: .relaxed))
        }
        return summary
    }
}

/// Peak live objects and the delay from last reference dropped to free, over the whole run.
public struct Retention: Sendable, Equatable {
    public var peakLiveObjects: Int
    /// Frees of objects whose last reference the stream dropped (the delay's sample).
    public var measuredFrees: Int
    public var freeDelaySum: Int
    public var freeDelayMax: Int

    /// Mean delay in the dropping thread's handle operations; 0 when nothing was measured.
    public var freeDelayMean: Double { measuredFrees > 0 ? Double(freeDelaySum) / Double(measuredFrees) : 0 }

    public static let none = Retention(peakLiveObjects: 0, measuredFrees: 0, freeDelaySum: 0, freeDelayMax: 0)
}

/// One thread's side of the ledger: moves its position and stamps the objects it drops.
public struct DropLedger {
    let line: UnsafeMutableRawPointer
    let control: UnsafeMutableRawPointer
    let thread: UInt64

    /// The thread is at `offset` handle operations into its current pass.
    @inline(__always)
    func move(toPassOffset offset: Int) {
        let start = ObjectPool.word(line, ObjectPool.RetentionWord.passStart).pointee.load(ordering: .relaxed)
        ObjectPool.word(line, ObjectPool.RetentionWord.position).pointee.store(start &+ offset, ordering: .relaxed)
    }

    /// A pass ended after `operations` handle operations in all: the next starts there. Samples
    /// the live objects first, before the safe point frees what was deferred.
    func passEnded(operations: Int, pool: ObjectPool) {
        ObjectPool.word(line, ObjectPool.RetentionWord.passStart).pointee.store(operations, ordering: .relaxed)
        ObjectPool.word(line, ObjectPool.RetentionWord.position).pointee.store(operations, ordering: .relaxed)
        samplePeak(pool: pool)
    }

    func samplePeak(pool: ObjectPool) {
        let peak = ObjectPool.word(line, ObjectPool.RetentionWord.peakLive)
        peak.pointee.store(max(peak.pointee.load(ordering: .relaxed), pool.liveObjects()), ordering: .relaxed)
    }

    /// The stream drops the last reference to `object` now (before the scheme sees the drop, so
    /// a free inside it finds the stamp).
    @inline(__always)
    func lastReferenceDropped(_ object: ObjectRef) {
        guard !object.isImmortal else { return }
        let position = ObjectPool.word(line, ObjectPool.RetentionWord.position).pointee.load(ordering: .relaxed)
        let stamp = thread << ObjectPool.stampThreadShift | (UInt64(max(0, position)) + 1) & ObjectPool.stampPositionMask
        ObjectPool.stampTable(control)[ObjectPool.stampIndex(object, control: control)].store(stamp, ordering: .relaxed)
    }
}
