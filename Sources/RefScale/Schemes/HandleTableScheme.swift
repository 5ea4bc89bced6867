import Synchronization

/// `handle-table`: HPy handles as PyPy and GraalPy ship them. One handle table per interpreter,
/// shared by every thread: a handle is an index into it (0 is `HPy_NULL`, never handed out), the
/// entry holds the object, and a free list of indices recycles closed entries. PyPy's
/// `HandleManager` (pypy/module/_hpy_universal/handlemanager.py, earlier
/// hpy_universal/handles.py): `new` pops an index from `free_list` or appends one, `close` stores
/// `None` and appends the index, `dup` is `new` of the entry's object; its `using` context opens an
/// argument's handle for a call and closes it after. GraalPy keeps the same shape in
/// `GraalHPyContext` and synchronises it; PyPy's list is not thread-safe (pypy issue 4197).
///
/// Synchronisation, a choice: the free list is a lock-free stack (Treiber) whose head word holds
/// the top index and a 32-bit tag bumped by every change, so a pop that read a stale link fails
/// its compare-and-swap instead of corrupting the list (ABA). A lock would cost two atomic
/// read-modify-writes per open and per close (acquire, release) and stall every thread's opens
/// while its holder is descheduled; the stack costs one compare-and-swap, retried under
/// contention (`cas_retries`). So `handle-table` is measured at its cheapest correct form. A free
/// entry holds its link as `next << 1 | 1`, an odd word no object address can be (as HPy's early
/// universal handles.c threaded its free list through the array); a never-used index comes from
/// a shared counter.
///
/// The table is a GC root: an object lives while a handle names it. A tracing collector (PyPy's,
/// GraalPy's) finds it by scanning the table; a counting model counts it, so every handle holds one
/// shared reference (atomic increment at open and dup, acquire-release decrement at close, free at
/// 0). This is the model's choice: the runtimes pay a table scan at collection instead.
///
/// Invariants:
/// - An entry is either live (an object address, even) or free (a link, odd); only the thread that
///   popped an index writes a live entry, until it pushes the index back.
/// - Each live entry holds one shared reference to its object; a non-local reference (field,
///   global, in flight) is one shared reference too. `transfer` moves the entry's reference out
///   and frees the entry; `adopt` moves a reference into a new entry: neither counts.
/// - Scopes mean nothing here: a handle lives until it is closed, as in PyPy.
/// - Immortal objects take entries but are never counted.
/// - With `--nan-boxing on`, ints and doubles are immediates (`NaNBoxing`), as GraalPy boxes
///   them: handles at or above 2^48, which no index reaches; they take no entry and no count.
///   `dup` returns one, `close` does nothing, `read` decodes it. An immediate is never stored or
///   sent (the `numeric` workload does neither).
/// - With `discipline == .unsynchronised` (PyPy's list as it is, for the positive control) the
///   free list is read and written with plain loads and stores: two threads may pop one index.
public struct HandleTableScheme: CountingScheme {
    public static let name = "handle-table"
    public static let summary = "one handle table per interpreter, a shared lock-free free list of indices (PyPy, GraalPy)"
    public static let reportedCounters: Set<CounterKind> = [.atomicRMW, .casRetries, .frees]
    public static let isThreadSafe = true
    public static let declaredOptions = [NaNBoxing.option.declaration]

    /// Entries of the table; a run needing more stops with a message.
    static let capacity = 1 << 22
    /// The head word's low 32 bits: the top index (0: empty).
    static let indexMask: UInt64 = 0xFFFF_FFFF
    /// A free entry's word is odd.
    static let freeTag: UInt = 1

    public enum Discipline: Sendable {
        /// The lock-free stack.
        case lockFree
        /// Plain loads and stores, as PyPy's `free_list`: not thread-safe (the positive control).
        case unsynchronised
    }

    public final class Shared: @unchecked Sendable {
        let entries: UnsafeMutablePointer<Atomic<UInt>>
        /// `tag << 32 | top index`, on a line of its own.
        let head: UnsafeMutablePointer<Atomic<UInt64>>
        /// The next never-used index, on a line of its own.
        let fresh: UnsafeMutablePointer<Atomic<Int>>
        let block: UnsafeMutableRawPointer
        let discipline: Discipline
        let nanBoxing: Bool

        init(discipline: Discipline, nanBoxing: Bool = false) {
            self.discipline = discipline
            self.nanBoxing = nanBoxing
            let bytes = HandleTableScheme.capacity * 8
            entries = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 128).bindMemory(to: Atomic<UInt>.self, capacity: HandleTableScheme.capacity)
            // Entries are written before they are read (a pop reads only pushed entries), so the
            // table needs no clearing; the words stay untouched until used.
            block = .allocate(byteCount: 256, alignment: 128)
            block.initializeMemory(as: UInt8.self, repeating: 0, count: 256)
            head = block.assumingMemoryBound(to: Atomic<UInt64>.self)
            fresh = (block + 128).assumingMemoryBound(to: Atomic<Int>.self)
            fresh.pointee.store(1, ordering: .relaxed)
        }

        deinit {
            UnsafeMutableRawPointer(entries).deallocate()
            block.deallocate()
        }
    }

    let entries: UnsafeMutablePointer<Atomic<UInt>>
    let head: UnsafeMutablePointer<Atomic<UInt64>>
    let fresh: UnsafeMutablePointer<Atomic<Int>>
    let synchronised: Bool
    let nanBoxing: Bool
    public var counters = SchemeCounters()

    public static func makeShared(options: SchemeOptions, threads: Int) -> Shared {
        Shared(discipline: .lockFree, nanBoxing: options[NaNBoxing.option] == .on)
    }

    public init(shared: Shared, threadID: Int) {
        entries = shared.entries
        head = shared.head
        fresh = shared.fresh
        synchronised = shared.discipline == .lockFree
        nanBoxing = shared.nanBoxing
    }

    // MARK: The free list

    /// An index for a new handle: the free list's top, else a never-used one.
    @inline(__always)
    mutating func popIndex() -> Int {
        var top = head.pointee.load(ordering: .acquiring)
        while true {
            let attempt = tryPop(from: top)
            if attempt.index != 0 { return attempt.index }
            top = attempt.head
        }
    }

    /// Pops the top of the list as it was when `top` was read. Returns the index, or 0 and the
    /// head as it is now when another thread changed the list meanwhile (the compare-and-swap
    /// failed). Without synchronisation the pop is a plain store and never fails: two threads that
    /// read the same head both take its index.
    @inline(__always)
    mutating func tryPop(from top: UInt64) -> (index: Int, head: UInt64) {
        let index = Int(truncatingIfNeeded: top & HandleTableScheme.indexMask)
        if index == 0 { return (synchronised ? freshIndex() : freshIndexUnsynchronised(), top) }
        let next = UInt64(entries[index].load(ordering: .relaxed) >> 1)
        guard synchronised else {
            head.pointee.store(next, ordering: .relaxed)
            return (index, top)
        }
        let (exchanged, current) = head.pointee.compareExchange(
            expected: top, desired: (top &>> 32 &+ 1) << 32 | next, ordering: .acquiringAndReleasing)
        counters.atomicRMW &+= 1
        if exchanged { return (index, top) }
        counters.casRetries &+= 1
        return (0, current)
    }

    /// Gives an index back: its entry becomes the link to the old top.
    @inline(__always)
    mutating func pushIndex(_ index: Int) {
        guard synchronised else { return pushUnsynchronised(index) }
        var top = head.pointee.load(ordering: .relaxed)
        while true {
            entries[index].store(UInt(truncatingIfNeeded: top & HandleTableScheme.indexMask) << 1 | HandleTableScheme.freeTag, ordering: .relaxed)
            let (exchanged, current) = head.pointee.compareExchange(
                expected: top, desired: (top &>> 32 &+ 1) << 32 | UInt64(index), ordering: .releasing)
            counters.atomicRMW &+= 1
            if exchanged { return }
            counters.casRetries &+= 1
            top = current
        }
    }

    mutating func freshIndex() -> Int {
        counters.atomicRMW &+= 1
        let index = fresh.pointee.wrappingAdd(1, ordering: .relaxed).oldValue
        precondition(index < HandleTableScheme.capacity, "handle-table: more than \(HandleTableScheme.capacity) handles open at once")
        return index
    }

    /// PyPy's list without a GIL: a load and a store, no atomic read-modify-write.
    mutating func freshIndexUnsynchronised() -> Int {
        let index = fresh.pointee.load(ordering: .relaxed)
        precondition(index < HandleTableScheme.capacity, "handle-table: more than \(HandleTableScheme.capacity) handles open at once")
        fresh.pointee.store(index + 1, ordering: .relaxed)
        return index
    }

    mutating func pushUnsynchronised(_ index: Int) {
        entries[index].store(UInt(truncatingIfNeeded: head.pointee.load(ordering: .relaxed)) << 1 | HandleTableScheme.freeTag, ordering: .relaxed)
        head.pointee.store(UInt64(index), ordering: .relaxed)
    }

    // MARK: Handles

    /// A new entry holding `object`; the caller has taken (or moves in) its reference.
    @inline(__always)
    mutating func enter(_ object: ObjectRef) -> Handle {
        let index = popIndex()
        entries[index].store(UInt(bitPattern: object.address), ordering: .relaxed)
        return Handle(bits: UInt64(index))
    }

    /// Ends a handle's entry; returns the object it held.
    @inline(__always)
    mutating func remove(_ handle: Handle) -> ObjectRef {
        let index = Int(truncatingIfNeeded: handle.bits)
        let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: entries[index].load(ordering: .relaxed))!)
        pushIndex(index)
        return object
    }

    @inline(__always)
    public func object(of handle: Handle) -> ObjectRef {
        ObjectRef(address: UnsafeMutableRawPointer(bitPattern: entries[Int(truncatingIfNeeded: handle.bits)].load(ordering: .relaxed))!)
    }

    public mutating func new(_ object: ObjectRef) -> Handle {
        object.count.pointee.store(1, ordering: .relaxed)
        return enter(object)
    }

    @inline(__always)
    public mutating func open(_ object: ObjectRef) -> Handle {
        retain(object)
        return enter(object)
    }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        NaNBoxing.isImmediate(handle) ? handle : open(object(of: handle))
    }

    @inline(__always)
    public mutating func immediate(_ number: Number) -> Handle { nanBoxing ? NaNBoxing.immediate(number) : .null }

    @inline(__always)
    public mutating func close(_ handle: Handle) {
        if !NaNBoxing.isImmediate(handle) { release(remove(handle)) }
    }

    @inline(__always)
    public func read(_ handle: Handle) -> UInt64 {
        NaNBoxing.isImmediate(handle) ? NaNBoxing.value(of: handle) : object(of: handle).payload
    }

    @inline(__always)
    public mutating func retain(_ object: ObjectRef) {
        if object.isImmortal { return }
        object.count.pointee.wrappingAdd(1, ordering: .relaxed)
        counters.atomicRMW &+= 1
    }

    @inline(__always)
    public mutating func release(_ object: ObjectRef) {
        if object.isImmortal { return }
        counters.atomicRMW &+= 1
        if object.count.pointee.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue == 1 {
            ObjectPool.free(object)
            counters.frees &+= 1
        }
    }

    /// The entry's reference moves out with the object.
    public mutating func transfer(_ handle: Handle) -> ObjectRef { remove(handle) }

    /// The received reference moves into a new entry.
    public mutating func adopt(_ object: ObjectRef) -> Handle { enter(object) }

    public mutating func safePoint() {}
    public mutating func threadExit() {}

    public static func referenceCount(of object: ObjectRef) -> Int? {
        object.count.pointee.load(ordering: .relaxed)
    }
}

extension HandleTableScheme: UniversalScheme {
    public static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) }, immediate: { Entries.immediate($0, $1) })
}
