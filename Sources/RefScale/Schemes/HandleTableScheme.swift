import Glibc
import Synchronization

/// `handle-table`: HPy handles as PyPy and GraalPy ship them, on a runtime without a GIL. A handle
/// is an index into a table of object references (0 is `HPy_NULL`, never handed out); a free list
/// of indices recycles closed entries. It follows
/// - PyPy's `HandleManager` (pypy/module/_hpy_universal/handlemanager.py): `new` pops an index
///   from `free_list` or appends a fresh one, `close` stores `None` in `handles_w[index]` and
///   appends the index to `free_list`, `dup` is `new` of the entry's object, `consume` (here
///   `transfer`) reads the entry and closes it;
/// - GraalPy's `GraalHPyContext` (graalpython/com.oracle.graal.python/src/com/oracle/graal/
///   python/builtins/objects/cext/hpy/GraalHPyContext.java): `hpyHandleTable`, the next fresh
///   index `nextHandle`, and a `HandleStack freeStack` of closed indices.
///
/// Both are garbage-collected runtimes: the table is a root set, so `dup` and `close` write the
/// table and never the object, and the interpreter's own references cost no count. Both keep one
/// table and one free list under their GIL (PyPy's list is not thread-safe without it: pypy
/// issue 4197). Without a GIL, the choices (`--free-list`):
/// - `per-thread` (default: what a no-GIL port of either would do first): each thread owns a
///   segment of the table and a plain stack of its free indices; its opens and closes take no
///   atomic and no lock. An index encodes its segment, so a close made by another thread (a
///   handle closed away from the thread that opened it) pushes the index onto the owner's
///   *remote* list, a lock-free stack (one compare-and-swap, the link kept in the entry);
///   the owner takes the whole remote list with one atomic exchange when its own stack is empty,
///   as mimalloc's thread-free lists do.
/// - `locked`: the direct port, one table and one free list under one lock (a test-and-set word,
///   waiting by `sched_yield`): two atomic read-modify-writes per open and per close are not
///   paid, only the lock's one (its release is a store).
///
/// When an object dies, without a collector. A tracing runtime frees an object when neither a
/// table entry nor anything else reaches it. The model decides the same exactly:
/// - The object's count word counts its *roots*: one per thread whose table names it, plus each
///   other reference (a field, a global, an object in flight, the interpreter's own in a trace).
/// - A thread roots an object once: at its birth (`new`) or at the first `open`, `load` or
///   `adopt` of it since the thread's last collection (one atomic increment; an `adopt` turns the
///   received reference into the root). The thread's rooted objects are a thread-local hash set;
///   an open of a rooted object looks it up and writes only the table. `dup` and `close` write
///   only the table.
/// - At every return from the outermost extension call, at every safe point and at thread exit
///   the thread collects: it marks the objects its live entries name and unroots every rooted
///   object left unmarked (one atomic decrement, free at 0). Its own table is all it scans: a
///   thread's roots are its own entries. Collecting at each return is a choice: it is where a
///   nursery collection would find a call's temporaries dead, and it keeps a dead object from
///   outliving the scope it died in, which a replayed trace's recycled objects rely on; PyPy
///   and GraalPy collect on allocation pressure instead, less often, so the model charges more
///   collections than they make (each costs a scan of the thread's used entries and rooted set).
/// - So an object is freed at the first collection after no entry of any thread names it and
///   no other reference holds it, never before.
/// What it leaves out: the tracing of the heap. Fields, globals and the interpreter's references
/// are counted (an atomic read-modify-write each, reported in `atomic_rmw`), where PyPy and
/// GraalPy pay a write barrier on stores and nothing for the interpreter's own references; the
/// count is this model's price for knowing liveness without tracing, so on a trace's interpreter
/// events `handle-table` charges one atomic each, as `atomic` does. Collections stop no thread
/// and move no object; a dead object waits until the next return from the outermost call or
/// the next safe point (about 4096 operations), which `peak_live_objects` shows; cycles do not arise (objects hold no references
/// here).
///
/// Invariants:
/// - An entry is live (an object address, even) or free (a link `next << 1 | 1`, odd); only the
///   thread that took an index writes its live entry, until it frees it.
/// - `per-thread`: an index of segment `s` is on at most one list: thread `s`'s stack, or its
///   remote list; only thread `s` pops either.
/// - An object a thread's live entry names is in that thread's rooted set, and its count
///   includes that thread's root.
/// - A handle lives until it is closed, as in PyPy; a scope's exit only collects.
/// - Immortal objects take entries but are never counted or rooted.
/// - With `--nan-boxing on`, ints and doubles are immediates (`NaNBoxing`), as GraalPy boxes
///   them: handles at or above 2^48, which no index reaches; they take no entry and no count.
///   `dup` returns one, `close` does nothing, `read` decodes it. An immediate is never stored or
///   sent (the `numeric` workload does neither).
public struct HandleTableScheme: CountingScheme {
    public static let name = "handle-table"
    public static let summary = "HPy handles as PyPy and GraalPy ship them: a table of GC roots, dup/close write only the table; free lists per thread or locked (--free-list)"
    public static let reportedCounters: Set<CounterKind> = [.atomicRMW, .casRetries, .frees]
    public static let isThreadSafe = true
    public static let freeList = DeclaredOption<FreeListPolicy>(
        "free_list", default: .perThread, help: "handle-table: each thread's own free list of indices, or one list under one lock")
    public static let declaredOptions = [freeList.declaration, NaNBoxing.option.declaration]

    /// Entries of the table; a run needing more stops with a message.
    static let capacity = 1 << 22
    /// A free entry's word is odd.
    static let freeTag: UInt = 1

    public enum FreeListPolicy: String, CaseIterable, Sendable, OptionValueConvertible {
        case perThread = "per-thread"
        case locked
    }

    public final class Shared: @unchecked Sendable {
        let entries: UnsafeMutablePointer<Atomic<UInt>>
        let policy: FreeListPolicy
        let nanBoxing: Bool
        /// Indices per thread's segment (`per-thread`); segment `t` starts at `t * segmentSize`
        /// (index 0 of segment 0 is `HPy_NULL`).
        let segmentSize: Int
        /// Per thread ID, on a line of its own: the head of its remote list (`per-thread`).
        /// Line 0: the lock word, the free list's head and the next fresh index (`locked`).
        let lines: UnsafeMutableRawPointer
        let threadIDs: Int

        /// `locked`: the thread ID that took each live entry, which its collection reads.
        let owners: UnsafeMutablePointer<Atomic<Int>>

        init(policy: FreeListPolicy, threads: Int, nanBoxing: Bool = false) {
            self.policy = policy
            self.nanBoxing = nanBoxing
            threadIDs = threads + 2
            segmentSize = HandleTableScheme.capacity / threadIDs
            entries = UnsafeMutableRawPointer.allocate(byteCount: HandleTableScheme.capacity * 8, alignment: 128)
                .bindMemory(to: Atomic<UInt>.self, capacity: HandleTableScheme.capacity)
            owners = UnsafeMutableRawPointer.allocate(byteCount: policy == .locked ? HandleTableScheme.capacity * 8 : 8, alignment: 128)
                .bindMemory(to: Atomic<Int>.self, capacity: policy == .locked ? HandleTableScheme.capacity : 1)
            // Entries are written before they are read, so the table needs no clearing.
            let bytes = (threadIDs + 1) * 128
            lines = .allocate(byteCount: bytes, alignment: 128)
            lines.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            lockedFresh.pointee.store(1, ordering: .relaxed)
        }

        deinit {
            UnsafeMutableRawPointer(entries).deallocate()
            UnsafeMutableRawPointer(owners).deallocate()
            lines.deallocate()
        }

        func remoteHead(of thread: Int) -> UnsafeMutablePointer<Atomic<UInt>> {
            (lines + (thread + 1) * 128).assumingMemoryBound(to: Atomic<UInt>.self)
        }

        var lock: UnsafeMutablePointer<Atomic<Int>> { lines.assumingMemoryBound(to: Atomic<Int>.self) }
        /// Under the lock: the top free index (0: empty), and the next fresh index.
        var lockedHead: UnsafeMutablePointer<Atomic<UInt>> { (lines + 8).assumingMemoryBound(to: Atomic<UInt>.self) }
        var lockedFresh: UnsafeMutablePointer<Atomic<UInt>> { (lines + 16).assumingMemoryBound(to: Atomic<UInt>.self) }
    }

    let shared: Shared
    let entries: UnsafeMutablePointer<Atomic<UInt>>
    let threadID: Int
    let isLocked: Bool
    let nanBoxing: Bool
    /// `per-thread`: this thread's free indices, its next fresh index and its segment's end.
    var freeIndices: WordStack
    var nextFresh: Int
    let segmentEnd: Int
    /// The objects this thread roots (`RootSet`).
    var roots: RootSet
    /// The addresses a collection unroots, kept to reuse its memory.
    var unrooted: WordStack
    var survivors: WordStack
    /// Scopes open in this thread: a collection follows the outermost one's exit.
    var scopeDepth = 0
    public var counters = SchemeCounters()

    public static func makeShared(options: SchemeOptions, threads: Int) -> Shared {
        Shared(policy: options[freeList], threads: threads, nanBoxing: options[NaNBoxing.option] == .on)
    }

    public init(shared: Shared, threadID: Int) {
        precondition(threadID >= 0 && threadID < shared.threadIDs, "handle-table: thread ID \(threadID) out of range")
        self.shared = shared
        entries = shared.entries
        self.threadID = threadID
        isLocked = shared.policy == .locked
        nanBoxing = shared.nanBoxing
        freeIndices = WordStack(capacity: 64)
        nextFresh = max(threadID * shared.segmentSize, 1)
        segmentEnd = (threadID + 1) * shared.segmentSize
        roots = RootSet()
        unrooted = WordStack(capacity: 64)
        survivors = WordStack(capacity: 64)
    }

    // MARK: Free lists

    /// An index for a new entry.
    @inline(__always)
    mutating func takeIndex() -> Int {
        if isLocked { return takeIndexLocked() }
        if freeIndices.count > 0 { return Int(freeIndices.pop()) }
        return takeRemoteOrFresh()
    }

    @inline(never)
    mutating func takeRemoteOrFresh() -> Int {
        let head = shared.remoteHead(of: threadID)
        if head.pointee.load(ordering: .relaxed) != 0 {
            var index = Int(head.pointee.exchange(0, ordering: .acquiring))
            counters.atomicRMW &+= 1
            while index != 0 {
                freeIndices.push(UInt(index))
                index = Int(entries[index].load(ordering: .relaxed) >> 1)
            }
            return Int(freeIndices.pop())
        }
        precondition(nextFresh < segmentEnd, "handle-table: more than \(shared.segmentSize) handles open at once in one thread")
        defer { nextFresh &+= 1 }
        return nextFresh
    }

    /// Frees an index: onto this thread's stack if its segment is this thread's, else onto its
    /// owner's remote list.
    @inline(__always)
    mutating func freeIndex(_ index: Int) {
        if isLocked { return freeIndexLocked(index) }
        let owner = index / shared.segmentSize
        if owner == threadID {
            entries[index].store(HandleTableScheme.freeTag, ordering: .relaxed)  // PyPy: `handles_w[index] = None`
            freeIndices.push(UInt(index))
        } else {
            pushRemote(index, owner: owner)
        }
    }

    @inline(never)
    mutating func pushRemote(_ index: Int, owner: Int) {
        let head = shared.remoteHead(of: owner)
        var top = head.pointee.load(ordering: .relaxed)
        while true {
            entries[index].store(top << 1 | HandleTableScheme.freeTag, ordering: .relaxed)
            let (exchanged, current) = head.pointee.compareExchange(expected: top, desired: UInt(index), ordering: .releasing)
            counters.atomicRMW &+= 1
            if exchanged { return }
            counters.casRetries &+= 1
            top = current
        }
    }

    mutating func acquireLock() {
        var spins = 0
        while true {
            let (acquired, _) = shared.lock.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring)
            counters.atomicRMW &+= 1
            if acquired { return }
            counters.casRetries &+= 1
            spins &+= 1
            if spins > 40 { sched_yield() }
            while shared.lock.pointee.load(ordering: .relaxed) != 0 { if spins > 40 { sched_yield() } }
        }
    }

    mutating func takeIndexLocked() -> Int {
        acquireLock()
        let top = Int(shared.lockedHead.pointee.load(ordering: .relaxed))
        let index: Int
        if top != 0 {
            index = top
            shared.lockedHead.pointee.store(entries[top].load(ordering: .relaxed) >> 1, ordering: .relaxed)
        } else {
            index = Int(shared.lockedFresh.pointee.load(ordering: .relaxed))
            precondition(index < HandleTableScheme.capacity, "handle-table: more than \(HandleTableScheme.capacity) handles open at once")
            shared.lockedFresh.pointee.store(UInt(index + 1), ordering: .relaxed)
        }
        shared.lock.pointee.store(0, ordering: .releasing)
        return index
    }

    mutating func freeIndexLocked(_ index: Int) {
        acquireLock()
        entries[index].store(shared.lockedHead.pointee.load(ordering: .relaxed) << 1 | HandleTableScheme.freeTag, ordering: .relaxed)
        shared.lockedHead.pointee.store(UInt(index), ordering: .relaxed)
        shared.lock.pointee.store(0, ordering: .releasing)
    }

    // MARK: Entries and roots

    /// A new entry naming `object`, which this thread roots (or which is immortal).
    @inline(__always)
    mutating func enter(_ object: ObjectRef) -> Handle {
        let index = takeIndex()
        if isLocked { shared.owners[index].store(threadID, ordering: .relaxed) }
        entries[index].store(UInt(bitPattern: object.address), ordering: .relaxed)
        return Handle(bits: UInt64(index))
    }

    /// Ends an entry; returns the object it named.
    @inline(__always)
    mutating func remove(_ handle: Handle) -> ObjectRef {
        let index = Int(truncatingIfNeeded: handle.bits)
        let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: entries[index].load(ordering: .relaxed))!)
        freeIndex(index)
        return object
    }

    @inline(__always)
    public func object(of handle: Handle) -> ObjectRef {
        ObjectRef(address: UnsafeMutableRawPointer(bitPattern: entries[Int(truncatingIfNeeded: handle.bits)].load(ordering: .relaxed))!)
    }

    /// Makes this thread a root of `object`, which a reference keeps alive meanwhile: one atomic
    /// increment the first time since the thread's last collection, nothing after.
    @inline(__always)
    mutating func root(_ object: ObjectRef) {
        if object.isImmortal { return }
        if roots.insert(UInt(bitPattern: object.address)) {
            object.count.pointee.wrappingAdd(1, ordering: .relaxed)
            counters.atomicRMW &+= 1
        }
    }

    /// The object is born with one root: this thread's.
    public mutating func new(_ object: ObjectRef) -> Handle {
        object.count.pointee.store(1, ordering: .relaxed)
        if !object.isImmortal { _ = roots.insert(UInt(bitPattern: object.address)) }
        return enter(object)
    }

    @inline(__always)
    public mutating func open(_ object: ObjectRef) -> Handle {
        root(object)
        return enter(object)
    }

    /// A new entry naming the same object: the table only.
    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        NaNBoxing.isImmediate(handle) ? handle : enter(object(of: handle))
    }

    @inline(__always)
    public mutating func immediate(_ number: Number) -> Handle { nanBoxing ? NaNBoxing.immediate(number) : .null }

    /// The entry is freed: the table only. The object stays rooted until the next collection.
    @inline(__always)
    public mutating func close(_ handle: Handle) {
        if !NaNBoxing.isImmediate(handle) { _ = remove(handle) }
    }

    @inline(__always)
    public func read(_ handle: Handle) -> UInt64 {
        NaNBoxing.isImmediate(handle) ? NaNBoxing.value(of: handle) : object(of: handle).payload
    }

    /// A field's or global's object: rooted already, or rooted by an increment that refuses a
    /// count of 0 and re-reads the slot (another thread may replace it and drop the last
    /// reference meanwhile; a collector would keep the object alive for the reader).
    public mutating func load(from slot: UnsafeMutablePointer<UInt>) -> Handle {
        while true {
            let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: slot.pointee)!)
            if object.isImmortal || roots.contains(UInt(bitPattern: object.address)) { return enter(object) }
            var count = object.count.pointee.load(ordering: .relaxed)
            while count > 0 {
                let (exchanged, current) = object.count.pointee.compareExchange(expected: count, desired: count &+ 1, ordering: .relaxed)
                counters.atomicRMW &+= 1
                if exchanged { break }
                counters.casRetries &+= 1
                count = current
            }
            guard count > 0 else { continue }
            if slot.pointee == UInt(bitPattern: object.address) {
                _ = roots.insert(UInt(bitPattern: object.address))
                return enter(object)
            }
            drop(object)
        }
    }

    /// A field, a global, an object in flight or an interpreter's reference: counted.
    @inline(__always)
    public mutating func retain(_ object: ObjectRef) {
        if object.isImmortal { return }
        object.count.pointee.wrappingAdd(1, ordering: .relaxed)
        counters.atomicRMW &+= 1
    }

    @inline(__always)
    public mutating func release(_ object: ObjectRef) {
        if !object.isImmortal { drop(object) }
    }

    /// Ends one counted reference (a root or another); the one that reaches 0 frees.
    @inline(__always)
    mutating func drop(_ object: ObjectRef) {
        counters.atomicRMW &+= 1
        if object.count.pointee.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue == 1 {
            ObjectPool.free(object)
            counters.frees &+= 1
        }
    }

    /// `consume`: the entry ends and a counted reference goes with the object.
    public mutating func transfer(_ handle: Handle) -> ObjectRef {
        let object = remove(handle)
        retain(object)
        return object
    }

    /// The received reference becomes this thread's root, or ends if the thread roots the object.
    public mutating func adopt(_ object: ObjectRef) -> Handle {
        if !object.isImmortal {
            if roots.insert(UInt(bitPattern: object.address)) == false { drop(object) }
        }
        return enter(object)
    }

    /// The thread's collection.
    public mutating func safePoint() { collect() }

    public mutating func enterScope() { scopeDepth &+= 1 }

    /// A return to the interpreter from the outermost call collects too (see the header).
    public mutating func exitScope() {
        scopeDepth &-= 1
        if scopeDepth == 0 { collect() }
    }

    /// Marks the objects this thread's live entries name, then unroots every rooted object left
    /// unmarked. The live entries are those of the thread's segment up to its next fresh index
    /// (`per-thread`), or those of the used table whose owner is this thread (`locked`). Another
    /// thread's entry read mid-change can only mark an object it names, which keeps a root one
    /// collection longer, never frees early.
    mutating func collect() {
        guard roots.count > 0 else { return }
        roots.clearMarks()
        let table = entries
        if isLocked {
            let used = Int(shared.lockedFresh.pointee.load(ordering: .relaxed))
            for index in 1..<used where shared.owners[index].load(ordering: .relaxed) == threadID {
                markEntry(index, table)
            }
        } else {
            for index in max(threadID * shared.segmentSize, 1)..<nextFresh { markEntry(index, table) }
        }
        var unrooted = self.unrooted, survivors = self.survivors
        roots.sweep(scratch: &survivors) { unrooted.push($0) }
        for index in 0..<unrooted.count { drop(ObjectRef(address: UnsafeMutableRawPointer(bitPattern: unrooted[index])!)) }
        unrooted.count = 0
        self.unrooted = unrooted
        self.survivors = survivors
    }

    @inline(__always)
    mutating func markEntry(_ index: Int, _ table: UnsafeMutablePointer<Atomic<UInt>>) {
        let word = table[index].load(ordering: .relaxed)
        if word & HandleTableScheme.freeTag == 0 { roots.mark(word) }
    }

    public mutating func threadExit() {
        collect()
        freeIndices.deallocate()
        unrooted.deallocate()
        survivors.deallocate()
        roots.deallocate()
    }

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

/// The objects one thread roots: an open-addressed set of addresses with linear probing and a
/// mark per slot, in raw memory owned by the thread. It grows to keep at most half its slots
/// full; a sweep keeps the marked addresses and rebuilds the set from them.
struct RootSet {
    private(set) var keys: UnsafeMutablePointer<UInt>
    private(set) var marks: UnsafeMutablePointer<Bool>
    private(set) var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 64) {
        self.capacity = capacity
        keys = .allocate(capacity: capacity)
        keys.initialize(repeating: 0, count: capacity)
        marks = .allocate(capacity: capacity)
        marks.initialize(repeating: false, count: capacity)
    }

    @inline(__always)
    func home(_ address: UInt) -> Int {
        Int(truncatingIfNeeded: ((UInt64(address) &>> 3) &* 0x9E37_79B9_7F4A_7C15) &>> 32) & (capacity &- 1)
    }

    @inline(__always)
    func slot(of address: UInt) -> Int {
        var slot = home(address)
        while keys[slot] != 0 && keys[slot] != address { slot = (slot &+ 1) & (capacity &- 1) }
        return slot
    }

    @inline(__always)
    func contains(_ address: UInt) -> Bool { keys[slot(of: address)] == address }

    /// Adds `address`; false if it was there already.
    @inline(__always)
    mutating func insert(_ address: UInt) -> Bool {
        let slot = slot(of: address)
        if keys[slot] == address { return false }
        keys[slot] = address
        count &+= 1
        if count &* 2 > capacity { rebuild(capacity: capacity &* 2, keepingUnmarked: true) }
        return true
    }

    func clearMarks() { marks.update(repeating: false, count: capacity) }

    @inline(__always)
    func mark(_ address: UInt) {
        let slot = slot(of: address)
        if keys[slot] == address { marks[slot] = true }
    }

    /// Calls `unrooted` for every unmarked address and keeps only the marked ones, re-inserted in
    /// place through `scratch` (no allocation once `scratch` has grown).
    mutating func sweep(scratch: inout WordStack, _ unrooted: (UInt) -> Void) {
        scratch.count = 0
        for slot in 0..<capacity where keys[slot] != 0 {
            if marks[slot] { scratch.push(keys[slot]) } else { unrooted(keys[slot]) }
        }
        keys.update(repeating: 0, count: capacity)
        count = 0
        for index in 0..<scratch.count { _ = insert(scratch[index]) }
        scratch.count = 0
    }

    private mutating func rebuild(capacity newCapacity: Int, keepingUnmarked: Bool) {
        let oldKeys = keys, oldMarks = marks, oldCapacity = capacity
        capacity = newCapacity
        keys = .allocate(capacity: newCapacity)
        keys.initialize(repeating: 0, count: newCapacity)
        marks = .allocate(capacity: newCapacity)
        marks.initialize(repeating: false, count: newCapacity)
        count = 0
        for slot in 0..<oldCapacity where oldKeys[slot] != 0 && (keepingUnmarked || oldMarks[slot]) {
            let new = self.slot(of: oldKeys[slot])
            keys[new] = oldKeys[slot]
            marks[new] = oldMarks[slot]
            count &+= 1
        }
        oldKeys.deallocate()
        oldMarks.deallocate()
    }

    func deallocate() {
        keys.deallocate()
        marks.deallocate()
    }
}
