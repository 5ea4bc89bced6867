import Synchronization

/// `biased`: biased reference counting as CPython 3.13+ does it (PEP 703; CPython's
/// `Include/internal/pycore_object.h` and `Python/brc.c`).
///
/// Header fields: `ownerThread` (0 = none), `localCount` (32 bits, written only by the owner,
/// never atomically), `count` as the shared word, holding `sharedCount << 2 | flags`.
/// The flags only move upward: INIT → MAYBE_WEAKREF → QUEUED → MERGED.
///
/// - New object: owner = the creating thread, local = 1, shared = 0.
/// - Increment: immortal → nothing; owner → `local += 1` (plain); other → atomic `shared += 4`.
/// - Owner decrement: `local -= 1`; at 0 the counts merge: shared == 0 → free at once, with no
///   atomic read-modify-write; otherwise owner = 0 and a CAS sets the flags to MERGED; the
///   object is freed if the shared word is then exactly MERGED (count 0).
/// - Other decrement (CAS loop): shared count 0 with flags INIT or MAYBE_WEAKREF → set QUEUED
///   without subtracting (the queue now holds that reference, which lives in `local`) and push
///   the object on the owner's merge queue; otherwise subtract 4, and free if the word is then
///   exactly MERGED. While QUEUED the shared count may go negative.
/// - The owner drains its queue at safe points: an explicit merge of each object,
///   `rc = shared + local - 1`, local = 0, owner = 0, shared = rc << 2 | MERGED, free at rc 0.
/// - A thread that exits drains its queue and marks it exited; an object queued for an exited
///   owner is merged at once by the thread that queues it.
/// - `local` reaching its maximum makes the object immortal.
///
/// A merge queue is an intrusive lock-free stack through `queueNext`; an object is queued at
/// most once in its life, because QUEUED is entered only from INIT or MAYBE_WEAKREF.
public struct BiasedScheme: CountingScheme {
    public static let name = "biased"
    public static let summary = "CPython 3.13 biased counting: owner counts plainly, others atomically, merge queues"
    public static let reportedCounters: Set<CounterKind> = [.atomicRMW, .casRetries, .merges, .queued, .frees]
    public static let isThreadSafe = true

    /// The shared word's low bits.
    public static let flagBits = 2
    public static let flagMask = 3
    /// No flag: the owner's counts are not merged.
    public static let INIT = 0
    /// Weak references may exist (kept for fidelity; no operation here sets it).
    public static let MAYBE_WEAKREF = 1
    /// A non-owner dropped a reference at shared count 0; the object waits in the owner's queue.
    public static let QUEUED = 2
    /// Local and shared counts are merged into the shared word; the owner counts no more.
    public static let MERGED = 3
    /// One reference in the shared word.
    public static let sharedOne = 1 << flagBits

    /// A merge queue's head: empty, or its owner has exited; any other value is an object address.
    static let queueEmpty: UInt = 0
    static let queueOwnerExited: UInt = 1

    public final class Shared {
        /// One merge queue head per thread ID, each on its own 128-byte line.
        let queueHeads: UnsafeMutableRawPointer
        let threadIDs: Int

        init(threadIDs: Int) {
            self.threadIDs = threadIDs
            queueHeads = .allocate(byteCount: threadIDs * 128, alignment: 128)
            queueHeads.initializeMemory(as: UInt8.self, repeating: 0, count: threadIDs * 128)
        }

        deinit { queueHeads.deallocate() }
    }

    let threadID: UInt32
    let queueHeads: UnsafeMutableRawPointer
    public var counters = SchemeCounters()

    public static func makeShared(options: SchemeOptions, threads: Int) -> Shared {
        Shared(threadIDs: threads + 2)
    }

    public init(shared: Shared, threadID: Int) {
        precondition(threadID > 0 && threadID < shared.threadIDs, "thread ID \(threadID) out of range")
        self.threadID = UInt32(threadID)
        self.queueHeads = shared.queueHeads
    }

    @inline(__always)
    func queueHead(of thread: UInt32) -> UnsafeMutablePointer<Atomic<UInt>> {
        (queueHeads + Int(thread) * 128).assumingMemoryBound(to: Atomic<UInt>.self)
    }

    @inline(__always)
    public func object(of handle: Handle) -> ObjectRef { ObjectRef(handle) }

    @inline(__always)
    public mutating func new(_ object: ObjectRef) -> Handle {
        object.ownerThread.pointee.store(threadID, ordering: .relaxed)
        object.localCount = 1
        object.count.pointee.store(0, ordering: .relaxed)
        return Handle(object)
    }

    @inline(__always)
    public mutating func open(_ object: ObjectRef) -> Handle { dup(Handle(object)) }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        let object = ObjectRef(handle)
        if object.isImmortal { return handle }
        if object.ownerThread.pointee.load(ordering: .relaxed) == threadID {
            let local = object.localCount &+ 1
            if local == UInt32.max {
                object.makeImmortal()
            } else {
                object.localCount = local
            }
        } else {
            object.count.pointee.wrappingAdd(BiasedScheme.sharedOne, ordering: .relaxed)
            counters.atomicRMW &+= 1
        }
        return handle
    }

    @inline(__always)
    public mutating func close(_ handle: Handle) {
        let object = ObjectRef(handle)
        if object.isImmortal { return }
        if object.ownerThread.pointee.load(ordering: .relaxed) == threadID {
            let local = object.localCount &- 1
            object.localCount = local
            if local == 0 { mergeZeroLocalCount(object) }
        } else {
            decrementShared(object)
        }
    }

    @inline(__always)
    public func read(_ handle: Handle) -> UInt64 { ObjectRef(handle).payload }

    /// The owner's local count reached 0.
    @inline(never)
    mutating func mergeZeroLocalCount(_ object: ObjectRef) {
        var shared = object.count.pointee.load(ordering: .acquiring)
        if shared == 0 {
            free(object)
            return
        }
        object.ownerThread.pointee.store(0, ordering: .relaxed)
        var merged: Int
        while true {
            merged = (shared & ~BiasedScheme.flagMask) | BiasedScheme.MERGED
            let (exchanged, current) = object.count.pointee.compareExchange(
                expected: shared, desired: merged, ordering: .acquiringAndReleasing)
            counters.atomicRMW &+= 1
            if exchanged { break }
            counters.casRetries += 1
            shared = current
        }
        counters.merges += 1
        if merged == BiasedScheme.MERGED { free(object) }
    }

    /// A decrement by a thread that does not own the object.
    @inline(__always)
    mutating func decrementShared(_ object: ObjectRef) {
        var shared = object.count.pointee.load(ordering: .relaxed)
        var updated: Int
        var queue: Bool
        while true {
            queue = shared == BiasedScheme.INIT || shared == BiasedScheme.MAYBE_WEAKREF
            updated = queue ? BiasedScheme.QUEUED : shared - BiasedScheme.sharedOne
            let (exchanged, current) = object.count.pointee.compareExchange(
                expected: shared, desired: updated, ordering: .acquiringAndReleasing)
            counters.atomicRMW &+= 1
            if exchanged { break }
            counters.casRetries += 1
            shared = current
        }
        if queue {
            enqueue(object)
        } else if updated == BiasedScheme.MERGED {
            free(object)
        }
    }

    /// Pushes the object on its owner's merge queue, or merges it here if the owner has exited.
    @inline(never)
    mutating func enqueue(_ object: ObjectRef) {
        counters.queued += 1
        let head = queueHead(of: object.ownerThread.pointee.load(ordering: .relaxed))
        // Acquiring: seeing `queueOwnerExited` must also show the exited owner's last writes to
        // `localCount`, which `mergeQueued` reads (see `threadExit`).
        var first = head.pointee.load(ordering: .acquiring)
        while true {
            if first == BiasedScheme.queueOwnerExited {
                mergeQueued(object)
                return
            }
            object.queueNext.pointee.store(first, ordering: .relaxed)
            let (exchanged, current) = head.pointee.compareExchange(
                expected: first, desired: UInt(bitPattern: object.address), ordering: .acquiringAndReleasing)
            counters.atomicRMW &+= 1
            if exchanged { return }
            counters.casRetries += 1
            first = current
        }
    }

    /// The explicit merge of a queued object: the queue's reference is dropped.
    mutating func mergeQueued(_ object: ObjectRef) {
        if BiasedScheme.explicitMerge(object, extra: -1, counters: &counters) == 0 { free(object) }
    }

    /// Merges local and shared counts into the shared word; returns the merged count.
    static func explicitMerge(_ object: ObjectRef, extra: Int, counters: inout SchemeCounters) -> Int {
        var shared = object.count.pointee.load(ordering: .acquiring)
        var count: Int
        while true {
            count = (shared >> flagBits) + Int(object.localCount) + extra
            let (exchanged, current) = object.count.pointee.compareExchange(
                expected: shared, desired: count << flagBits | MERGED, ordering: .acquiringAndReleasing)
            counters.atomicRMW &+= 1
            if exchanged { break }
            counters.casRetries += 1
            shared = current
        }
        object.localCount = 0
        object.ownerThread.pointee.store(0, ordering: .relaxed)
        counters.merges += 1
        return count
    }

    /// Merges every object of a detached queue list.
    mutating func mergeList(_ first: UInt) {
        var next = first
        while next != BiasedScheme.queueEmpty && next != BiasedScheme.queueOwnerExited {
            let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: next)!)
            next = object.queueNext.pointee.load(ordering: .relaxed)
            mergeQueued(object)
        }
    }

    @inline(__always)
    mutating func free(_ object: ObjectRef) {
        ObjectPool.free(object)
        counters.frees += 1
    }

    /// Drains this thread's merge queue.
    public mutating func retain(_ object: ObjectRef) { _ = dup(Handle(object)) }
    public mutating func release(_ object: ObjectRef) { close(Handle(object)) }
    /// The handle is a counted reference already: it moves, counted where it was counted (a
    /// reference in the owner's local count may end in another thread; that is what queues).
    public mutating func transfer(_ handle: Handle) -> ObjectRef { ObjectRef(handle) }
    public mutating func adopt(_ object: ObjectRef) -> Handle { Handle(object) }

    public mutating func safePoint() {
        let head = queueHead(of: threadID)
        guard head.pointee.load(ordering: .relaxed) != BiasedScheme.queueEmpty else { return }
        mergeList(head.pointee.exchange(BiasedScheme.queueEmpty, ordering: .acquiring))
    }

    /// Releasing as well as acquiring: a thread that later finds the queue marked exited merges
    /// this thread's objects itself, reading the `localCount` this thread wrote last (relaxed).
    public mutating func threadExit() {
        mergeList(queueHead(of: threadID).pointee.exchange(BiasedScheme.queueOwnerExited, ordering: .acquiringAndReleasing))
    }

    public static func referenceCount(of object: ObjectRef) -> Int? {
        (object.count.pointee.load(ordering: .relaxed) >> flagBits) + Int(object.localCount)
    }
}

extension BiasedScheme: UniversalScheme {
    public static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}
