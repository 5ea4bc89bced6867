import Synchronization

/// `handle-local`: the handle design of the seed talk. Objects are aligned so that a handle is
/// `address | i`, where the index bits `i` name a slot of the thread's local reference-count
/// table; index 0 means "no slot".
///
/// Invariants:
/// - The table has `slotCount` slots of (object, count), owned by one thread; nothing in it is
///   atomic and no other thread reads it.
/// - An occupied slot holds exactly one shared (atomic) reference to its object on behalf of the
///   thread, whatever its count; its count is the number of the thread's open handles with
///   that index.
/// - `dup` and `close` of a handle with a slot change only the slot's count: no atomic, no write
///   to the object, so the object's cache line stays shared-clean in every core.
/// - A handle with index 0 is itself one shared reference: its `dup` and `close` are atomic.
/// - A slot whose count reaches 0 gives its shared reference back at once (`eager`) or at the
///   next flush (`lazy`): a safe point, thread exit, or the slot's eviction to make room. Until
///   then it keeps the object alive and a new `open` of the object finds it again.
/// - The object is freed when its shared count reaches 0, by whichever thread brings it there.
/// - A local handle means nothing in another thread: there its index names another slot.
/// - Immortal objects get index 0 and are never counted.
public struct HandleLocalScheme: CountingScheme {
    public static let name = "handle-local"
    public static let summary = "handles carry a thread-local table index in spare pointer bits (the seed talk)"
    public static let reportedCounters: Set<CounterKind> = [.atomicRMW, .tableHits, .tableMisses, .fallbacks, .evictions, .frees]
    public static let isThreadSafe = true
    public static let usedOptions: Set<SchemeOptionName> = [.handleIndex, .release]

    public final class Shared {
        let options: SchemeOptions
        init(options: SchemeOptions) { self.options = options }
    }

    let slotCount: Int
    let indexMask: UInt64
    let releaseEagerly: Bool
    /// Entry `i` (1...slotCount) is 16 bytes: the object's address (0 = free), then its count.
    let table: UnsafeMutableRawPointer
    public var counters = SchemeCounters()

    public static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared {
        guard options.objectAlignment >= options.handleIndex.requiredAlignment else {
            throw ConfigurationError("--handle-index \(options.handleIndex.rawValue) needs --object-align of at least \(options.handleIndex.requiredAlignment), got \(options.objectAlignment)")
        }
        return Shared(options: options)
    }

    public init(shared: Shared, threadID: Int) {
        slotCount = shared.options.handleIndex.slotCount
        indexMask = shared.options.handleIndex.mask
        releaseEagerly = shared.options.release == .eager
        let bytes = (slotCount + 1) * 16
        table = .allocate(byteCount: bytes, alignment: 128)
        table.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    @inline(__always)
    func slotObject(_ slot: Int) -> UnsafeMutablePointer<UInt> {
        (table + slot * 16).assumingMemoryBound(to: UInt.self)
    }

    /// The slot's count, kept in memory (a plain load and store, never folded).
    @inline(__always)
    func slotCountCell(_ slot: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (table + slot * 16 + 8).assumingMemoryBound(to: Atomic<Int>.self)
    }

    @inline(__always)
    func slotIndex(_ handle: Handle) -> Int { Int(truncatingIfNeeded: handle.bits & indexMask) }

    @inline(__always)
    public func object(of handle: Handle) -> ObjectRef { ObjectRef(handle, clearing: indexMask) }

    @inline(__always)
    func handle(_ object: ObjectRef, slot: Int) -> Handle {
        Handle(bits: Handle(object).bits | UInt64(slot))
    }

    public mutating func new(_ object: ObjectRef) -> Handle {
        if object.isImmortal { return Handle(object) }
        object.count.pointee.store(1, ordering: .relaxed)
        let slot = freeSlot()
        guard slot != 0 else {
            counters.fallbacks &+= 1
            return Handle(object)
        }
        fill(slot, with: object)
        return handle(object, slot: slot)
    }

    public mutating func open(_ object: ObjectRef) -> Handle {
        if object.isImmortal { return Handle(object) }
        let address = UInt(bitPattern: object.address)
        for slot in 1...slotCount where slotObject(slot).pointee == address {
            let cell = slotCountCell(slot)
            cell.pointee.store(cell.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
            counters.tableHits &+= 1
            return handle(object, slot: slot)
        }
        incrementShared(object)
        let slot = freeSlot()
        guard slot != 0 else {
            counters.fallbacks &+= 1
            return Handle(object)
        }
        fill(slot, with: object)
        return handle(object, slot: slot)
    }

    /// A free slot, evicting a slot of count 0 if there is no free one; 0 when the table is full.
    mutating func freeSlot() -> Int {
        var releasable = 0
        for slot in 1...slotCount {
            if slotObject(slot).pointee == 0 { return slot }
            if releasable == 0 && slotCountCell(slot).pointee.load(ordering: .relaxed) == 0 { releasable = slot }
        }
        if releasable != 0 {
            release(releasable)
            counters.evictions += 1
        }
        return releasable
    }

    /// Puts one shared reference the thread already holds into `slot`, with count 1.
    mutating func fill(_ slot: Int, with object: ObjectRef) {
        slotObject(slot).pointee = UInt(bitPattern: object.address)
        slotCountCell(slot).pointee.store(1, ordering: .relaxed)
        counters.tableMisses += 1
    }

    /// Gives back the slot's shared reference and frees the slot.
    mutating func release(_ slot: Int) {
        let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: slotObject(slot).pointee)!)
        slotObject(slot).pointee = 0
        decrementShared(object)
    }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        let slot = slotIndex(handle)
        if slot != 0 {
            let cell = slotCountCell(slot)
            cell.pointee.store(cell.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
            counters.tableHits &+= 1
        } else {
            let object = object(of: handle)
            if !object.isImmortal {
                incrementShared(object)
                counters.fallbacks &+= 1
            }
        }
        return handle
    }

    @inline(__always)
    public mutating func close(_ handle: Handle) {
        let slot = slotIndex(handle)
        if slot != 0 {
            let cell = slotCountCell(slot)
            let count = cell.pointee.load(ordering: .relaxed) &- 1
            cell.pointee.store(count, ordering: .relaxed)
            counters.tableHits &+= 1
            if count == 0 && releaseEagerly { release(slot) }
        } else {
            let object = object(of: handle)
            if !object.isImmortal {
                decrementShared(object)
                counters.fallbacks &+= 1
            }
        }
    }

    @inline(__always)
    public func read(_ handle: Handle) -> UInt64 { object(of: handle).payload }

    @inline(__always)
    mutating func incrementShared(_ object: ObjectRef) {
        object.count.pointee.wrappingAdd(1, ordering: .relaxed)
        counters.atomicRMW &+= 1
    }

    @inline(__always)
    mutating func decrementShared(_ object: ObjectRef) {
        counters.atomicRMW &+= 1
        if object.count.pointee.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue == 1 {
            ObjectPool.free(object)
            counters.frees += 1
        }
    }

    /// Releases every slot whose count is 0.
    /// A non-local reference is a shared reference, never a slot: only it may cross threads.
    public mutating func retain(_ object: ObjectRef) {
        if !object.isImmortal { incrementShared(object) }
    }

    public mutating func release(_ object: ObjectRef) {
        if !object.isImmortal { decrementShared(object) }
    }

    /// A handle without a slot is a shared reference already and moves; a slot handle takes one.
    public mutating func transfer(_ handle: Handle) -> ObjectRef {
        let object = object(of: handle)
        if slotIndex(handle) != 0 {
            retain(object)
            close(handle)
        }
        return object
    }

    public mutating func safePoint() {
        for slot in 1...slotCount
        where slotObject(slot).pointee != 0 && slotCountCell(slot).pointee.load(ordering: .relaxed) == 0 {
            release(slot)
        }
    }

    /// Flushes the table. A slot still counting open handles keeps its reference: those handles
    /// leaked, and validation reports their objects as never freed.
    public mutating func threadExit() {
        safePoint()
        table.deallocate()
    }

    public static func referenceCount(of object: ObjectRef) -> Int? {
        object.count.pointee.load(ordering: .relaxed)
    }
}
