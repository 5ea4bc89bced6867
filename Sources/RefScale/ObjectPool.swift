import CHPyContext
import CRefScale
import Glibc
import Synchronization

/// One object of the pool: a header holding every field any scheme needs, then a payload.
///
/// Layout (byte offsets from the object's address, which is aligned to the pool's alignment).
/// Bytes 0..<32 are CPython's free-threaded `struct _object` (`Include/object.h`, 3.13 and 3.14),
/// so `biased` and `perthread` count on the header CPython counts on and small objects share
/// cache lines as they do there:
///
///     0  count/ownerThread  word    the count of `atomic`, `nonatomic`, `gil`, `handle-local`;
///                                   biased and perthread: `ob_tid`, the owning thread (0 = none)
///     8  state        UInt32  the pool's record: ObjectFlags (bits 0-7), alive (bit 8), home
///                             thread (bits 16-31); where CPython keeps `ob_flags`, `ob_mutex`
///                             and `ob_gc_bits`, which no counting step reads
///    12  localCount   UInt32  biased: `ob_ref_local`, written only by the owner; UInt32.max is
///                             immortal (`_Py_IMMORTAL_REFCNT_LOCAL`)
///    16  sharedCount  Int     biased: `ob_ref_shared`, `count << 2 | flags`
///    24  type         UInt    `ob_type`: the address of the object's type object, 0 = none
///   ---- the end of CPython's header; the rest is the object's body
///    32  payload      UInt64  what `read` returns: the object's pool index plus one (cpython: the
///                             PyObject*)
///    40  uniqueID     Int     perthread: the index into the per-thread arrays, -1 = none, while
///                             the object lives (CPython keeps it in the body too: `ht_unique_id`,
///                             `_co_unique_id`); once freed: the link in the pool's free list
///    48  births       UInt32  how many times the object was born
///    52  freeCount    UInt32  how many times the object was freed
///    56  control      the pool's control block (free lists, violation counts)
///
/// 64 bytes in all: a list object of free-threaded CPython (56 bytes) in mimalloc's 64-byte
/// size class. Schemes reach these fields through the accessors below and never compute
/// addresses of their own. The words at 0, 16, 24 and 32 and the local count at 12 are
/// overwritten with `poison` when the object is freed, so any later write is found: when the
/// object is reborn, or by `validateLifetimes`.
public struct ObjectRef: Equatable, Hashable, @unchecked Sendable {
    public let address: UnsafeMutableRawPointer

    @inline(__always)
    public init(address: UnsafeMutableRawPointer) { self.address = address }

    /// The object a handle names once `indexMask` (the scheme's spare bits) is cleared. Optimised
    /// builds take no null test here (debug builds do): the runtimes' own steps on a handle
    /// (`Py_INCREF`, a table lookup) take none, and it was one compare and branch in every
    /// kernel's dup and close.
    @inline(__always)
    public init(_ handle: Handle, clearing indexMask: UInt64 = 0) {
        self.address = UnsafeMutableRawPointer(bitPattern: UInt(handle.bits & ~indexMask)).unsafelyUnwrapped
    }

    public static let headerSize = 64
    /// The bytes CPython's free-threaded `struct _object` takes: `ob_tid` to `ob_type`.
    public static let cpythonHeaderSize = 32
    public static let poison = UInt64(0xDEAD_BEEF_DEAD_BEEF)
    /// The words `ObjectPool.free` poisons, besides the local count.
    static let poisonedOffsets = [0, 16, 24, 32]
    static let localPoison = UInt32(truncatingIfNeeded: poison)

    @inline(__always)
    public var count: UnsafeMutablePointer<Atomic<Int>> {
        address.assumingMemoryBound(to: Atomic<Int>.self)
    }

    /// A counter that is plain (no atomic read-modify-write) but kept in memory: every change is
    /// a load and a store the optimiser may neither fold nor keep in a register.
    @inline(__always)
    public var plainCount: Int {
        get { count.pointee.load(ordering: .relaxed) }
        nonmutating set { count.pointee.store(newValue, ordering: .relaxed) }
    }

    /// `ob_tid`: the owning thread, 0 = none. The same word as `count`, which the schemes that
    /// have no owner use.
    @inline(__always)
    public var ownerThread: UnsafeMutablePointer<Atomic<UInt>> {
        address.assumingMemoryBound(to: Atomic<UInt>.self)
    }

    /// `ob_ref_local`: a 32-bit field, loaded and stored as CPython does (`uint32_t`).
    @inline(__always)
    public var localCountWord: UnsafeMutablePointer<Atomic<UInt32>> {
        (address + 12).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    @inline(__always)
    public var localCount: UInt32 {
        get { localCountWord.pointee.load(ordering: .relaxed) }
        nonmutating set { localCountWord.pointee.store(newValue, ordering: .relaxed) }
    }

    /// `ob_ref_shared`.
    @inline(__always)
    public var sharedCount: UnsafeMutablePointer<Atomic<Int>> {
        (address + 16).assumingMemoryBound(to: Atomic<Int>.self)
    }

    /// `ob_type`: the address of the object's type object, 0 for none.
    @inline(__always)
    public var typeWord: UnsafeMutablePointer<Atomic<UInt>> {
        (address + 24).assumingMemoryBound(to: Atomic<UInt>.self)
    }

    @inline(__always)
    var state: UnsafeMutablePointer<Atomic<UInt32>> {
        (address + 8).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// The pool's free-list link, in the word `uniqueID` uses while the object lives.
    @inline(__always)
    var freeLink: UnsafeMutablePointer<Atomic<UInt>> {
        (address + 40).assumingMemoryBound(to: Atomic<UInt>.self)
    }

    @inline(__always)
    var freeCount: UnsafeMutablePointer<Atomic<UInt32>> {
        (address + 52).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    @inline(__always)
    public var uniqueID: Int {
        get { (address + 40).assumingMemoryBound(to: Atomic<Int>.self).pointee.load(ordering: .relaxed) }
        nonmutating set { (address + 40).assumingMemoryBound(to: Atomic<Int>.self).pointee.store(newValue, ordering: .relaxed) }
    }

    /// What `read` returns; a scheme whose objects live elsewhere (`cpython`) keeps its record of
    /// the real object here once the object is born.
    @inline(__always)
    public var payload: UInt64 {
        get { (address + 32).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .relaxed) }
        nonmutating set { (address + 32).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.store(newValue, ordering: .relaxed) }
    }

    @inline(__always)
    var births: UnsafeMutablePointer<Atomic<UInt32>> {
        (address + 48).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    @inline(__always)
    var control: UnsafeMutablePointer<Atomic<UInt>> {
        (address + 56).assumingMemoryBound(to: Atomic<UInt>.self)
    }

    static let aliveBit: UInt32 = 1 << 8
    static let homeShift: UInt32 = 16
    static let immortalFlag = UInt32(ObjectFlags.immortal.rawValue)

    /// Immortal objects (PEP 683) are never counted and never freed.
    @inline(__always)
    public var isImmortal: Bool { state.pointee.load(ordering: .relaxed) & ObjectRef.immortalFlag != 0 }

    /// One of the objects the workload shares between threads.
    public var isShared: Bool { state.pointee.load(ordering: .relaxed) & UInt32(ObjectFlags.shared.rawValue) != 0 }

    /// An object 3.13 gives a deferred count (`--shared-kind class`, a trace's classes, functions,
    /// modules and code).
    public var isDeferred: Bool { state.pointee.load(ordering: .relaxed) & UInt32(ObjectFlags.deferred.rawValue) != 0 }

    /// A type made by `PyType_FromSpec` (`--shared-kind ext-type`).
    public var isExtensionType: Bool { state.pointee.load(ordering: .relaxed) & UInt32(ObjectFlags.extensionType.rawValue) != 0 }

    public func makeImmortal() { state.pointee.bitwiseOr(ObjectRef.immortalFlag, ordering: .relaxed) }

    public var isAlive: Bool { state.pointee.load(ordering: .relaxed) & ObjectRef.aliveBit != 0 }
    /// Born at least once.
    public var isBorn: Bool { timesBorn > 0 }
    public var timesBorn: Int { Int(births.pointee.load(ordering: .relaxed)) }
    public var timesFreed: Int { Int(freeCount.pointee.load(ordering: .relaxed)) }

    /// The thread whose free list takes the object back, 0 for an object that is not recycled.
    var homeThread: Int { Int(state.pointee.load(ordering: .relaxed) >> ObjectRef.homeShift) }

    @inline(__always)
    func word(at offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (address + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// The four words of `poisonedOffsets`, written out: a loop over the array cost every birth
    /// and every free 24 instructions.
    @inline(__always)
    func poisonIsIntact() -> Bool {
        localCount == ObjectRef.localPoison
            && word(at: 0).pointee.load(ordering: .relaxed) == ObjectRef.poison
            && word(at: 16).pointee.load(ordering: .relaxed) == ObjectRef.poison
            && word(at: 24).pointee.load(ordering: .relaxed) == ObjectRef.poison
            && word(at: 32).pointee.load(ordering: .relaxed) == ObjectRef.poison
    }

    @inline(__always)
    func setPoisonedWords(to value: UInt64) {
        word(at: 0).pointee.store(value, ordering: .relaxed)
        word(at: 16).pointee.store(value, ordering: .relaxed)
        word(at: 24).pointee.store(value, ordering: .relaxed)
        word(at: 32).pointee.store(value, ordering: .relaxed)
    }

    @inline(__always)
    func poison() {
        setPoisonedWords(to: ObjectRef.poison)
        localCount = ObjectRef.localPoison
    }
}

/// What a workload says of an object when it makes it.
public struct ObjectFlags: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Never counted, never freed (PEP 683).
    public static let immortal = ObjectFlags(rawValue: 1)
    /// Reached by several threads (per-thread counting gives such objects a unique id).
    public static let shared = ObjectFlags(rawValue: 2)
    /// An object with a deferred count in CPython 3.13 (`_PyObject_SetDeferredRefcount`: a class
    /// from a `class` statement, a top-level function, a module, code), which 3.13t makes
    /// immortal once a second thread runs (`--shared-kind class`).
    public static let deferred = ObjectFlags(rawValue: 4)
    /// A type an extension made with `PyType_FromSpec`: never deferred in 3.13; its instances'
    /// deallocators drop it with the public `Py_DECREF` (`--shared-kind ext-type`).
    public static let extensionType = ObjectFlags(rawValue: 8)
    /// An object of an HPy module's run whose payload is the address of a record (a tuple's
    /// items, an instance's struct, a module's attributes) that must end with it
    /// (`chpy_object_freed`).
    public static let holdsRecord = ObjectFlags(rawValue: UInt8(CHPY_RECORD_FLAG))
}

/// Where a pool's objects live: the hook through which the harness places object memory on
/// NUMA nodes (`--placement`). `allocate` returns zero-filled, page-aligned memory of which no
/// page has been touched yet, so each page lands where its policy or its first toucher puts it.
public struct PoolMemory: Sendable {
    public var allocate: @Sendable (_ bytes: Int) -> UnsafeMutableRawPointer
    public var deallocate: @Sendable (_ memory: UnsafeMutableRawPointer, _ bytes: Int) -> Void

    public init(
        allocate: @escaping @Sendable (_ bytes: Int) -> UnsafeMutableRawPointer,
        deallocate: @escaping @Sendable (_ memory: UnsafeMutableRawPointer, _ bytes: Int) -> Void
    ) {
        self.allocate = allocate
        self.deallocate = deallocate
    }
}

/// The run's objects, allocated and zeroed before the timed interval. Object `i` starts at
/// `base + i * stride`; `stride` is a multiple of the alignment, so the low `log2(alignment)`
/// bits of every object address are zero and free for a scheme to use.
///
/// The first `fixedCount` objects are born by index (`bear`). After them each thread has a
/// region of `regionSize` objects it allocates from (`allocate`), starting on a 4 KiB page of
/// its own, as mimalloc gives each thread pages of its own: objects made by one thread sit side
/// by side, and never on a cache line with another thread's or the main thread's objects. A
/// freed region object goes
/// back to its home thread: onto the home's own list when the home thread frees it, onto the
/// home's remote list (a lock-free stack other threads push to, which the home takes whole)
/// when another thread does, as thread-caching allocators such as mimalloc do.
///
/// With a `PoolMemory`, no object is written before it is born: the thread that bears an object
/// is the first to touch it (pages of 4 KiB, 64 objects of 64 bytes, go to the first toucher).
public struct ObjectPool: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let stride: Int
    /// log2 of `stride`, a power of two: an object's index is a shift, not a division.
    let strideShift: Int
    public let count: Int
    public let alignment: Int
    public let fixedCount: Int
    public let regionSize: Int
    /// The index of the first region object, and the distance between two threads' regions.
    let regionStart: Int
    let regionStride: Int
    /// Line 0: violation counts (bytes 0, 8 and 48; `RetentionControl` holds 16..<48); line 1 + t:
    /// thread t's free lists.
    let control: UnsafeMutableRawPointer
    let threadSlots: Int
    /// Where the objects came from: nil for the process heap, zeroed here.
    let memory: PoolMemory?
    let mapped: UnsafeMutableRawPointer
    let mappedBytes: Int

    static let lineSize = 128
    static let pageSize = 4096

    public static func stride(alignment: Int) -> Int {
        (ObjectRef.headerSize + alignment - 1) / alignment * alignment
    }

    /// - Parameters:
    ///   - count: objects born by index.
    ///   - regionSize: objects each of `threadSlots` threads may allocate.
    ///   - memory: where the objects live; nil: the heap, zeroed by the calling thread.
    public init(count: Int, alignment: Int, regionSize: Int = 0, threadSlots: Int = 0, memory: PoolMemory? = nil) {
        precondition(alignment >= 8 && alignment & (alignment - 1) == 0, "alignment must be a power of two >= 8")
        self.fixedCount = count
        self.regionSize = regionSize
        self.threadSlots = threadSlots
        self.alignment = alignment
        self.stride = ObjectPool.stride(alignment: alignment)
        precondition(stride & (stride - 1) == 0, "the pool's stride is a power of two")
        self.strideShift = stride.trailingZeroBitCount
        let perPage = max(1, ObjectPool.pageSize / stride)
        func roundedToPages(_ objects: Int) -> Int { (objects + perPage - 1) / perPage * perPage }
        regionStart = regionSize > 0 ? roundedToPages(count) : count
        regionStride = roundedToPages(regionSize)
        self.count = regionSize > 0 ? regionStart + regionStride * threadSlots : count
        let bytes = max(1, self.count) * stride
        let baseAlignment = max(alignment, 128)
        self.memory = memory
        if let memory {
            // Page-aligned; an alignment above the page takes one alignment more to round up.
            mappedBytes = bytes + (baseAlignment > Int(getpagesize()) ? baseAlignment : 0)
            mapped = memory.allocate(mappedBytes)
            base = UnsafeMutableRawPointer(bitPattern: (UInt(bitPattern: mapped) + UInt(baseAlignment - 1)) & ~UInt(baseAlignment - 1))!
        } else {
            base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: baseAlignment)
            base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            mapped = base
            mappedBytes = bytes
        }
        let controlBytes = (1 + threadSlots) * ObjectPool.lineSize
        control = .allocate(byteCount: controlBytes, alignment: ObjectPool.lineSize)
        control.initializeMemory(as: UInt8.self, repeating: 0, count: controlBytes)
        for thread in 0..<threadSlots {
            let lists = freeLists(thread)
            lists.fresh.pointee.store(regionStart + thread * regionStride, ordering: .relaxed)
        }
        prepareRetention()
    }

    public func deallocate() {
        if let memory { memory.deallocate(mapped, mappedBytes) } else { base.deallocate() }
        releaseRetention()
        control.deallocate()
    }

    @inline(__always)
    public subscript(index: Int) -> ObjectRef { ObjectRef(address: base + index * stride) }

    /// The pool indices of thread `thread`'s region that it has allocated so far.
    public func usedRegion(thread: Int) -> Range<Int> {
        let start = regionStart + thread * regionStride
        return start..<max(start, freeLists(thread).fresh.pointee.load(ordering: .relaxed))
    }

    /// The times thread `thread` found its region used up and had to wait for an object to come
    /// back (Kernel.swift `allocate`). A region sized for what the workload keeps alive never
    /// runs dry: a wait is the harness's, not the scheme's, and runs syscalls in the timed loop.
    public func regionWaits(thread: Int) -> Int { freeLists(thread).regionWaits.pointee.load(ordering: .relaxed) }

    /// Counts one wait of thread `thread` on its used-up region; called by that thread only.
    func noteRegionWait(thread: Int) {
        let waits = freeLists(thread).regionWaits
        waits.pointee.store(waits.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }

    /// The indices of every object that may have been born: the fixed ones and the part of each
    /// region handed out so far, so a walk over them never touches memory no thread used.
    public var usedIndices: [Range<Int>] {
        [0..<min(count, regionStart)] + (regionSize > 0 ? (0..<threadSlots).map(usedRegion) : [])
    }

    /// Thread `thread`'s allocation state: the next never-used object of its region, its own
    /// free list (touched by that thread only), the times it found its region used up, and its
    /// remote free list (pushed by others).
    struct FreeLists {
        let line: UnsafeMutableRawPointer
        var fresh: UnsafeMutablePointer<Atomic<Int>> { line.assumingMemoryBound(to: Atomic<Int>.self) }
        var local: UnsafeMutablePointer<Atomic<UInt>> { (line + 8).assumingMemoryBound(to: Atomic<UInt>.self) }
        /// Written by the home thread only, a load and a store; 16..<56 are the retention words
        /// (`RetentionWord`).
        var regionWaits: UnsafeMutablePointer<Atomic<Int>> { (line + 56).assumingMemoryBound(to: Atomic<Int>.self) }
        /// On a line of its own: other threads write it.
        var remote: UnsafeMutablePointer<Atomic<UInt>> { (line + 64).assumingMemoryBound(to: Atomic<UInt>.self) }
    }

    @inline(__always)
    func freeLists(_ thread: Int) -> FreeLists {
        FreeLists(line: control + (1 + thread) * ObjectPool.lineSize)
    }

    static func violations(_ control: UnsafeMutableRawPointer) -> (
        doubleFrees: UnsafeMutablePointer<Atomic<Int>>, writesAfterFree: UnsafeMutablePointer<Atomic<Int>>,
        birthsWhileAlive: UnsafeMutablePointer<Atomic<Int>>
    ) {
        (control.assumingMemoryBound(to: Atomic<Int>.self), (control + 8).assumingMemoryBound(to: Atomic<Int>.self),
         (control + 48).assumingMemoryBound(to: Atomic<Int>.self))
    }

    /// Marks object `index` alive with the given payload; the scheme then sets its count fields.
    public func bear(_ index: Int, flags: ObjectFlags) -> ObjectRef {
        ObjectPool.bear(self[index], flags: flags, home: 0, payload: UInt64(index) &+ 1, control: control)
    }

    /// Writes the whole header but `freeCount`, so the bearing thread is the object's first toucher.
    /// Bearing an object that is alive (memory reused before it was freed) is recorded.
    static func bear(
        _ object: ObjectRef, flags: ObjectFlags, home: Int, payload: UInt64, control: UnsafeMutableRawPointer, type: UInt = 0
    ) -> ObjectRef {
        if object.state.pointee.load(ordering: .relaxed) & ObjectRef.aliveBit != 0 {
            violations(control).birthsWhileAlive.pointee.wrappingAdd(1, ordering: .relaxed)
        }
        object.control.pointee.store(UInt(bitPattern: control), ordering: .relaxed)
        object.state.pointee.store(
            ObjectRef.aliveBit | UInt32(flags.rawValue) | UInt32(home) << ObjectRef.homeShift, ordering: .relaxed)
        // Only the thread bearing the object writes `births`: a load and a store, no atomic.
        object.births.pointee.store(object.births.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        object.setPoisonedWords(to: 0)
        object.localCount = 0
        object.typeWord.pointee.store(type, ordering: .relaxed)
        object.uniqueID = -1
        object.payload = payload
        noteBirth(object, control: control)
        return object
    }

    /// A fresh or recycled object from thread `thread`'s region, born with `flags` and the type
    /// object `type` (0: none); nil when the region is exhausted and nothing has come back yet.
    public func allocate(thread: Int, flags: ObjectFlags, type: UInt = 0) -> ObjectRef? {
        let lists = freeLists(thread)
        var first = lists.local.pointee.load(ordering: .relaxed)
        if first == 0 {
            first = lists.remote.pointee.exchange(0, ordering: .acquiring)
        }
        if first != 0 {
            let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: first)!)
            lists.local.pointee.store(object.freeLink.pointee.load(ordering: .relaxed), ordering: .relaxed)
            if !object.poisonIsIntact() {
                ObjectPool.violations(control).writesAfterFree.pointee.wrappingAdd(1, ordering: .relaxed)
            }
            let index = (object.address - base) &>> strideShift
            return ObjectPool.bear(object, flags: flags, home: thread, payload: UInt64(index) &+ 1, control: control, type: type)
        }
        let fresh = lists.fresh.pointee.load(ordering: .relaxed)
        guard fresh < regionStart + thread * regionStride + regionSize else { return nil }
        lists.fresh.pointee.store(fresh + 1, ordering: .relaxed)
        return ObjectPool.bear(self[fresh], flags: flags, home: thread, payload: UInt64(fresh) &+ 1, control: control, type: type)
    }

    /// Ends an object's life: counts the free, poisons every field a scheme may write, and gives
    /// a region object back to its home thread. Freeing a dead object is recorded, not done.
    ///
    /// The alive bit is cleared by a plain load and store, as an allocator's local free writes
    /// no atomic (mimalloc's `mi_free` pushes onto the page's own list): a locked read-modify-write
    /// here cost every free, in every scheme, about as much as `atomic`'s decrement, and made the
    /// harness's share of `call` and `churn` larger than any scheme's counting. The scheme's own
    /// synchronisation orders the last use of the object before its free. A double free in
    /// sequence is found here; two threads freeing one life at the same moment both pass, and are
    /// found later: the object is then on a free list twice, so its next birth finds it alive
    /// (`birthsWhileAlive`), and its free count outruns its births.
    public static func free(_ object: ObjectRef) {
        let control = UnsafeMutableRawPointer(bitPattern: object.control.pointee.load(ordering: .relaxed))!
        let state = object.state.pointee.load(ordering: .relaxed)
        guard state & ObjectRef.aliveBit != 0 else {
            violations(control).doubleFrees.pointee.wrappingAdd(1, ordering: .relaxed)
            return
        }
        object.state.pointee.store(state & ~ObjectRef.aliveBit, ordering: .relaxed)
        object.freeCount.pointee.store(object.freeCount.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        noteFree(object, control: control)
        if state & UInt32(CHPY_RECORD_FLAG) != 0 { chpy_object_freed(object.address) }
        object.poison()
        let home = Int(state >> ObjectRef.homeShift)
        guard home != 0 else { return }
        let lists = FreeLists(line: control + (1 + home) * lineSize)
        let address = UInt(bitPattern: object.address)
        if Int(crefscale_thread_slot()) == home {
            object.freeLink.pointee.store(lists.local.pointee.load(ordering: .relaxed), ordering: .relaxed)
            lists.local.pointee.store(address, ordering: .relaxed)
            return
        }
        var first = lists.remote.pointee.load(ordering: .relaxed)
        while true {
            object.freeLink.pointee.store(first, ordering: .relaxed)
            let (exchanged, current) = lists.remote.pointee.compareExchange(
                expected: first, desired: address, ordering: .releasing)
            if exchanged { return }
            first = current
        }
    }

    /// Checks every object ever born: a mortal object's life ended exactly once per birth, no
    /// object was freed while dead, no freed object was written. Returns the problems, or nil.
    public func validateLifetimes() -> String? {
        var problems: [String] = []
        var bad = 0
        func report(_ problem: String) {
            bad += 1
            if problems.count < 3 { problems.append(problem) }
        }
        let (doubleFrees, writesAfterFree, birthsWhileAlive) = ObjectPool.violations(control)
        let doubles = doubleFrees.pointee.load(ordering: .relaxed)
        if doubles > 0 { report("\(doubles) free(s) of an object already freed") }
        let reborn = birthsWhileAlive.pointee.load(ordering: .relaxed)
        if reborn > 0 { report("\(reborn) birth(s) of an object still alive (its memory reused before its free)") }
        let writes = writesAfterFree.pointee.load(ordering: .relaxed)
        if writes > 0 { report("\(writes) object(s) written after being freed, found when reborn") }
        for index in usedIndices.joined() {
            let object = self[index]
            guard object.isBorn else { continue }
            if object.isImmortal {
                if !object.isAlive { report("immortal object \(index) freed") }
            } else if object.isAlive {
                report("object \(index) never freed (count \(object.plainCount))")
            } else if object.timesFreed != object.timesBorn {
                report("object \(index) born \(object.timesBorn) times, freed \(object.timesFreed) times")
            } else if !object.poisonIsIntact() {
                report("object \(index) written after it was freed")
            }
        }
        guard bad > 0 else { return nil }
        return "\(bad) problem(s): " + problems.joined(separator: "; ")
    }
}
