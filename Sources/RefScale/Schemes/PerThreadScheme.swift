import CRefScale
import Glibc
import Synchronization

/// `perthread`: CPython 3.14's per-thread reference counts (`Python/uniqueid.c`,
/// `_Py_INCREF_TYPE`, `_PyObject_MergePerThreadRefcounts`), with `biased` for everything else.
///
/// Which objects: an object gets a *unique id* when it is made, if `--unique-ids` says so
/// (`shared`: the objects the workload marks shared, the default; `all`: every mortal object;
/// `none`: no object). Immortal objects never get an id. Ids come from the run's id pool: a
/// counter and a table from id to object that never moves (chunks that double in size), so a
/// thread can find an object by its id while others add ids. Ids are not reused: an object with
/// an id is freed only at the run's end.
///
/// Invariants for an object with an id:
/// - Its count is split: the shared word `count` (atomic) plus one entry per thread, `entry[id]`
///   of that thread's array. The true count is `count - deferredBias + Σ entries`.
/// - `dup` and `close` change only the calling thread's entry: a plain load, add and store on
///   memory no other thread writes. No atomic, no lock, no write to the object. An entry may go
///   negative (a thread closes references another thread made).
/// - It is *deferred*: `count` starts at `deferredBias` (CPython's `_Py_REF_DEFERRED`), far above
///   any count a run can reach, so no merge can bring it to 0 and nothing frees the object
///   while threads run.
/// - A merge of a thread's array adds each non-zero entry into `count` (one atomic add) and zeroes
///   it. Each thread merges only its own array, at its exit and at every periodic merge.
/// - The final merge, in the main thread's (thread 1) `threadExit`, runs after every worker has
///   exited — and so merged — whatever the order they exited in, since merges are atomic adds
///   that commute. There the main thread merges its own array, removes the bias of every object
///   with an id and frees those whose count is then 0. The others become ordinary merged
///   `biased` objects (shared word `count << 2 | MERGED`, no id).
/// - Its `queueNext` field holds the address of the run's state (unused by `biased` for such an
///   object), so `referenceCount(of:)` can add the unmerged entries of every thread.
///
/// Periodic merges (`--merge-interval S > 0`): a stop-the-world rendezvous in the shared state.
/// At a safe point a worker whose clock is past the deadline requests merge generation `g + 1`;
/// every worker that sees a request at its safe point merges its array, arrives, and waits until
/// every worker still running has arrived. Exited workers do not count: `threadExit` removes the
/// worker from the rendezvous, and completes a merge that only it was holding up. So a worker
/// waiting when the run stops is released when the others arrive (at their next safe point,
/// also the one after the teardown) or exit. The main thread is idle during the run and never
/// takes part; its entries wait for the final merge.
///
/// Objects with no id are counted exactly as `biased` counts them, by a `BiasedScheme` context
/// held inside. `merges` counts array merges (one per thread per merge in which the thread has an
/// array) plus the merges `biased` makes.
public struct PerThreadScheme: CountingScheme {
    public static let name = "perthread"
    public static let summary = "CPython 3.14 per-thread counts for objects with a unique id, merged stop-the-world; biased for the rest"
    public static let reportedCounters: Set<CounterKind> = [.atomicRMW, .casRetries, .merges, .queued, .frees]
    public static let isThreadSafe = true
    public static let usedOptions: Set<SchemeOptionName> = [.uniqueIDs, .mergeInterval]

    /// The bias a deferred object's shared count carries until the final merge
    /// (CPython's `_Py_REF_DEFERRED`, `PY_SSIZE_T_MAX / 8`).
    public static let deferredBias = Int.max / 8
    /// The run's main thread, which makes the final merge.
    static let mainThreadID = 1

    public final class Shared {
        let biased: BiasedScheme.Shared
        let state: PerThreadState
        let uniqueIDs: UniqueIDPolicy

        init(options: SchemeOptions, threadIDs: Int) {
            biased = BiasedScheme.makeShared(options: options, threads: threadIDs - 2)
            state = PerThreadState(threadIDs: threadIDs, mergeIntervalNanoseconds: UInt64(options.mergeInterval * 1e9))
            uniqueIDs = options.uniqueIDs
        }

        deinit { state.deallocate() }
    }

    var biased: BiasedScheme
    let state: PerThreadState
    let threadID: Int
    let uniqueIDs: UniqueIDPolicy
    let mergeIntervalNanoseconds: UInt64
    /// This thread's array: entry `id` is the thread's unmerged change to the count of the object
    /// with that id. Nil until the thread first counts an object with an id.
    var entries: UnsafeMutablePointer<Atomic<Int>>?
    var capacity = 0
    /// The last periodic merge this thread took part in.
    var mergeGeneration: Int
    var ownCounters = SchemeCounters()

    public var counters: SchemeCounters { biased.counters + ownCounters }

    public static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared {
        guard options.mergeInterval >= 0 && options.mergeInterval.isFinite else {
            throw ConfigurationError("--merge-interval must be a number of seconds >= 0, got \(options.mergeInterval)")
        }
        return Shared(options: options, threadIDs: threads + 2)
    }

    public init(shared: Shared, threadID: Int) {
        biased = BiasedScheme(shared: shared.biased, threadID: threadID)
        state = shared.state
        self.threadID = threadID
        uniqueIDs = shared.uniqueIDs
        mergeIntervalNanoseconds = state.mergeIntervalNanoseconds
        mergeGeneration = state.enterRendezvous(isWorker: threadID != PerThreadScheme.mainThreadID)
    }

    @inline(__always)
    public func object(of handle: Handle) -> ObjectRef { ObjectRef(handle) }

    // MARK: - Operations

    @inline(__always)
    public mutating func new(_ object: ObjectRef) -> Handle {
        if getsUniqueID(object) { return newDeferred(object) }
        return biased.new(object)
    }

    @inline(__always)
    func getsUniqueID(_ object: ObjectRef) -> Bool {
        switch uniqueIDs {
        case .none: false
        case .shared: object.isShared && !object.isImmortal
        case .all: !object.isImmortal && object.homeThread == 0
        }
    }

    @inline(never)
    mutating func newDeferred(_ object: ObjectRef) -> Handle {
        ownCounters.atomicRMW &+= 1
        guard let id = state.assignUniqueID(to: object) else { return biased.new(object) }
        object.ownerThread.pointee.store(0, ordering: .relaxed)
        object.localCount = 0
        object.queueNext.pointee.store(UInt(bitPattern: state.block), ordering: .relaxed)
        object.count.pointee.store(PerThreadScheme.deferredBias, ordering: .relaxed)
        object.uniqueID = id
        addToEntry(id, 1)
        return Handle(object)
    }

    @inline(__always)
    public mutating func open(_ object: ObjectRef) -> Handle { dup(Handle(object)) }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        let id = ObjectRef(handle).uniqueID
        if id >= 0 {
            addToEntry(id, 1)
            return handle
        }
        return biased.dup(handle)
    }

    /// Never frees an object with an id: only the final merge does.
    @inline(__always)
    public mutating func close(_ handle: Handle) {
        let id = ObjectRef(handle).uniqueID
        if id >= 0 {
            addToEntry(id, -1)
        } else {
            biased.close(handle)
        }
    }

    @inline(__always)
    public func read(_ handle: Handle) -> UInt64 { ObjectRef(handle).payload }

    /// The hot path of an object with an id: a plain load, add and store on this thread's array.
    @inline(__always)
    mutating func addToEntry(_ id: Int, _ delta: Int) {
        if _slowPath(id >= capacity) { grow(toHold: id) }
        let entry = entries.unsafelyUnwrapped + id
        entry.pointee.store(entry.pointee.load(ordering: .relaxed) &+ delta, ordering: .relaxed)
    }

    /// Enlarges this thread's array (zeroed beyond the old entries) and registers it in the shared
    /// state, where `referenceCount(of:)` finds it.
    @inline(never)
    mutating func grow(toHold id: Int) {
        var newCapacity = max(64, capacity)
        while newCapacity <= id { newCapacity *= 2 }
        let grown = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: newCapacity)
        let raw = UnsafeMutableRawPointer(grown)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: newCapacity * MemoryLayout<Int>.stride)
        if let entries {
            raw.copyMemory(from: UnsafeRawPointer(entries), byteCount: capacity * MemoryLayout<Int>.stride)
            entries.deallocate()
        }
        entries = grown
        capacity = newCapacity
        state.registerEntries(of: threadID, grown, capacity: newCapacity)
    }

    // MARK: - Merges

    /// Adds each non-zero entry of this thread's array into its object's shared count and zeroes
    /// it. Never frees: the bias keeps every shared count above 0.
    mutating func mergeEntries() {
        guard let entries else { return }
        for id in 0..<capacity {
            let delta = entries[id].load(ordering: .relaxed)
            guard delta != 0 else { continue }
            let object = state.object(withID: id)
            object.count.pointee.wrappingAdd(delta, ordering: .releasing)
            entries[id].store(0, ordering: .relaxed)
            ownCounters.atomicRMW &+= 1
        }
        ownCounters.merges += 1
    }

    /// Merges, then gives the array back.
    mutating func mergeAndReleaseEntries() {
        mergeEntries()
        guard let entries else { return }
        state.registerEntries(of: threadID, nil, capacity: 0)
        entries.deallocate()
        self.entries = nil
        capacity = 0
    }

    /// Drains the biased merge queue and, when a periodic merge is due, joins it.
    public mutating func retain(_ object: ObjectRef) { _ = dup(Handle(object)) }
    public mutating func release(_ object: ObjectRef) { close(Handle(object)) }
    /// The handle is a counted reference already: it moves (an entry may then go negative in the
    /// thread that ends it; the merge makes the sum exact).
    public mutating func transfer(_ handle: Handle) -> ObjectRef { ObjectRef(handle) }
    public mutating func adopt(_ object: ObjectRef) -> Handle { Handle(object) }
    public mutating func exitScope() { biased.exitScope() }

    public mutating func safePoint() {
        biased.safePoint()
        guard mergeIntervalNanoseconds > 0 && threadID != PerThreadScheme.mainThreadID else { return }
        let requested = state.requestedMerge.pointee.load(ordering: .acquiring)
        if requested > mergeGeneration {
            joinMerge(requested)
            return
        }
        guard crefscale_monotonic_ns() >= state.mergeDeadline.pointee.load(ordering: .relaxed) else { return }
        let (won, current) = state.requestedMerge.pointee.compareExchange(
            expected: mergeGeneration, desired: mergeGeneration + 1, ordering: .acquiringAndReleasing)
        joinMerge(won ? mergeGeneration + 1 : current)
    }

    /// Merge generation `generation`: merge this thread's array, arrive, wait for every worker
    /// still running. When the last one arrives, every array has been merged and no worker runs.
    mutating func joinMerge(_ generation: Int) {
        mergeGeneration = generation
        mergeEntries()
        let now = state.rendezvous.pointee.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
        if PerThreadState.arrived(now) == PerThreadState.active(now) {
            state.completeMerge(generation, active: PerThreadState.active(now))
        } else {
            while state.completedMerge.pointee.load(ordering: .acquiring) < generation { sched_yield() }
        }
    }

    /// A worker merges its array and leaves the rendezvous. The main thread makes the final merge.
    public mutating func threadExit() {
        biased.threadExit()
        mergeAndReleaseEntries()
        if threadID == PerThreadScheme.mainThreadID {
            finalMerge()
        } else {
            state.leaveRendezvous()
        }
    }

    /// After every worker's exit merge and the main thread's own: removes each bias and frees
    /// the objects whose count is then 0.
    mutating func finalMerge() {
        let running = PerThreadState.active(state.rendezvous.pointee.load(ordering: .acquiring))
        precondition(running == 0, "perthread: the final merge must follow every worker's exit, \(running) still running")
        for id in 0..<state.assignedIDs {
            let object = state.object(withID: id)
            let count = object.count.pointee.load(ordering: .acquiring) - PerThreadScheme.deferredBias
            object.uniqueID = -1
            if count == 0 {
                ObjectPool.free(object)
                ownCounters.frees += 1
            } else {
                object.count.pointee.store(count << BiasedScheme.flagBits | BiasedScheme.MERGED, ordering: .relaxed)
            }
        }
    }

    /// The true count when no thread runs: for an object with an id, its shared count less the
    /// bias plus every thread's unmerged entry.
    public static func referenceCount(of object: ObjectRef) -> Int? {
        let id = object.uniqueID
        guard id >= 0 else { return BiasedScheme.referenceCount(of: object) }
        let state = PerThreadState(block: UnsafeMutableRawPointer(bitPattern: object.queueNext.pointee.load(ordering: .relaxed))!)
        var count = object.count.pointee.load(ordering: .relaxed) - deferredBias
        for thread in 0..<state.threadIDs {
            let (entries, capacity) = state.entries(of: thread)
            if let entries, id < capacity { count += entries[id].load(ordering: .relaxed) }
        }
        return count
    }
}

extension PerThreadScheme: UniversalScheme {
    public static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}

/// The shared state of a `perthread` run, in raw memory so a context holds only a pointer:
///
///     line 0   next unique id (atomic counter)
///     line 1   requested merge generation
///     line 2   rendezvous word: workers running (high 32 bits) and workers arrived (low 32)
///     line 3   completed merge generation, deadline of the next merge (monotonic ns)
///     line 4   thread IDs, merge interval (ns): constant
///     line 5-7 the id table's directory: chunk k holds ids [64 (2^k - 1), 64 (2^(k+1) - 1))
///     line 8-  per thread ID: its array's address and capacity (16 bytes each)
///
/// Chunks of the id table are made on demand and never move, so a thread can read an id's
/// object while another adds ids.
struct PerThreadState: @unchecked Sendable {
    let block: UnsafeMutableRawPointer

    static let lineSize = 128
    static let chunkCount = 48
    static let firstChunkIDs = 64
    static let slotsOffset = 8 * lineSize
    static let arrivedMask = (1 << 32) - 1

    init(block: UnsafeMutableRawPointer) { self.block = block }

    init(threadIDs: Int, mergeIntervalNanoseconds: UInt64) {
        let bytes = PerThreadState.slotsOffset + threadIDs * 16
        block = .allocate(byteCount: bytes, alignment: PerThreadState.lineSize)
        block.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        word(4, 0).pointee.store(threadIDs, ordering: .relaxed)
        word(4, 8).pointee.store(Int(mergeIntervalNanoseconds), ordering: .relaxed)
        if mergeIntervalNanoseconds > 0 {
            mergeDeadline.pointee.store(crefscale_monotonic_ns() &+ mergeIntervalNanoseconds, ordering: .relaxed)
        }
    }

    /// Frees the id table and any array a thread did not give back.
    func deallocate() {
        for k in 0..<PerThreadState.chunkCount {
            UnsafeMutableRawPointer(bitPattern: chunkWord(k).pointee.load(ordering: .acquiring))?.deallocate()
        }
        for thread in 0..<threadIDs { entries(of: thread).0?.deallocate() }
        block.deallocate()
    }

    @inline(__always)
    func word(_ line: Int, _ offset: Int = 0) -> UnsafeMutablePointer<Atomic<Int>> {
        (block + line * PerThreadState.lineSize + offset).assumingMemoryBound(to: Atomic<Int>.self)
    }

    var nextID: UnsafeMutablePointer<Atomic<Int>> { word(0) }
    var requestedMerge: UnsafeMutablePointer<Atomic<Int>> { word(1) }
    var rendezvous: UnsafeMutablePointer<Atomic<Int>> { word(2) }
    var completedMerge: UnsafeMutablePointer<Atomic<Int>> { word(3) }
    var mergeDeadline: UnsafeMutablePointer<Atomic<UInt64>> {
        (block + 3 * PerThreadState.lineSize + 8).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
    var threadIDs: Int { word(4, 0).pointee.load(ordering: .relaxed) }
    var mergeIntervalNanoseconds: UInt64 { UInt64(word(4, 8).pointee.load(ordering: .relaxed)) }

    // MARK: The id pool

    /// How many ids have been handed out: ids `0..<assignedIDs`.
    var assignedIDs: Int { nextID.pointee.load(ordering: .acquiring) }

    func chunkWord(_ k: Int) -> UnsafeMutablePointer<Atomic<UInt>> {
        (block + 5 * PerThreadState.lineSize + k * 8).assumingMemoryBound(to: Atomic<UInt>.self)
    }

    /// The chunk holding `id` and the id's place in it.
    static func chunk(of id: Int) -> (chunk: Int, offset: Int) {
        let k = Int.bitWidth - 1 - (id / firstChunkIDs + 1).leadingZeroBitCount
        return (k, id - firstChunkIDs * ((1 << k) - 1))
    }

    /// Gives `object` the next id and enters it in the table; nil when the table is full.
    func assignUniqueID(to object: ObjectRef) -> Int? {
        let id = nextID.pointee.wrappingAdd(1, ordering: .relaxed).oldValue
        let (k, offset) = PerThreadState.chunk(of: id)
        guard k < PerThreadState.chunkCount else { return nil }
        var chunk = chunkWord(k).pointee.load(ordering: .acquiring)
        if chunk == 0 {
            let bytes = (PerThreadState.firstChunkIDs << k) * 8
            let made = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 8)
            made.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            let (exchanged, current) = chunkWord(k).pointee.compareExchange(
                expected: 0, desired: UInt(bitPattern: made), ordering: .acquiringAndReleasing)
            if exchanged {
                chunk = UInt(bitPattern: made)
            } else {
                made.deallocate()
                chunk = current
            }
        }
        (UnsafeMutableRawPointer(bitPattern: chunk)! + offset * 8).assumingMemoryBound(to: Atomic<UInt>.self)
            .pointee.store(UInt(bitPattern: object.address), ordering: .releasing)
        return id
    }

    /// The object with id `id`, which the calling thread has counted (so it has been entered).
    func object(withID id: Int) -> ObjectRef {
        let (k, offset) = PerThreadState.chunk(of: id)
        let chunk = UnsafeMutableRawPointer(bitPattern: chunkWord(k).pointee.load(ordering: .acquiring))!
        let address = (chunk + offset * 8).assumingMemoryBound(to: Atomic<UInt>.self).pointee.load(ordering: .acquiring)
        return ObjectRef(address: UnsafeMutableRawPointer(bitPattern: address)!)
    }

    // MARK: Per-thread arrays

    func slot(_ thread: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (block + PerThreadState.slotsOffset + thread * 16).assumingMemoryBound(to: Atomic<Int>.self)
    }

    func registerEntries(of thread: Int, _ entries: UnsafeMutablePointer<Atomic<Int>>?, capacity: Int) {
        slot(thread).pointee.store(Int(bitPattern: entries), ordering: .relaxed)
        (slot(thread) + 1).pointee.store(capacity, ordering: .relaxed)
    }

    func entries(of thread: Int) -> (UnsafeMutablePointer<Atomic<Int>>?, Int) {
        (UnsafeMutablePointer(bitPattern: slot(thread).pointee.load(ordering: .relaxed)),
         (slot(thread) + 1).pointee.load(ordering: .relaxed))
    }

    // MARK: The rendezvous of periodic merges

    static func arrived(_ rendezvous: Int) -> Int { rendezvous & arrivedMask }
    static func active(_ rendezvous: Int) -> Int { rendezvous >> 32 }

    /// A worker counts as running from its context's creation (before the start barrier, so
    /// before any merge can be requested); returns the merge generation it starts from.
    func enterRendezvous(isWorker: Bool) -> Int {
        if isWorker { rendezvous.pointee.wrappingAdd(1 << 32, ordering: .acquiringAndReleasing) }
        return completedMerge.pointee.load(ordering: .acquiring)
    }

    /// A worker leaves; if every worker still running already waits at a merge, it completes it.
    func leaveRendezvous() {
        let now = rendezvous.pointee.wrappingSubtract(1 << 32, ordering: .acquiringAndReleasing).newValue
        let arrived = PerThreadState.arrived(now)
        if arrived > 0 && arrived == PerThreadState.active(now) {
            completeMerge(requestedMerge.pointee.load(ordering: .acquiring), active: arrived)
        }
    }

    /// Called by the one thread whose arrival or exit made every running worker arrived: no other
    /// thread can change the rendezvous word until `completedMerge` releases them.
    func completeMerge(_ generation: Int, active: Int) {
        rendezvous.pointee.store(active << 32, ordering: .relaxed)
        mergeDeadline.pointee.store(crefscale_monotonic_ns() &+ mergeIntervalNanoseconds, ordering: .relaxed)
        completedMerge.pointee.store(generation, ordering: .releasing)
    }
}
