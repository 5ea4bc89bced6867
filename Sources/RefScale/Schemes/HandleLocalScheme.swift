import Synchronization

/// `handle-local`: the handle design of the seed talk. A handle is `address | i << shift`, where
/// the index `i`, kept in bits the address never uses, names a slot of the thread's local
/// reference-count table; index 0 means "no slot". The widths (`HandleIndex`):
///
///     low3    bits 0..<3 of an 8-byte-aligned address         7 slots   open scans the table
///     low4    bits 0..<4 of a 16-byte-aligned address        15 slots   open scans the table
///     high16  bits 48..<64, unused by x86-64 user addresses  65535 slots   open hashes the address
///
/// A mask and a rotation chosen at init turn a handle's index bits straight into its slot's byte
/// offset, so dup and close are the same two instructions for every width. The high16 table is open-addressed by object address with linear
/// probing over slots 1...65535: the slot where an object sits is its index, so a live entry is
/// never moved. A released slot becomes a tombstone (lookups probe past it), or empty when the
/// next slot is empty (then no live entry's probe path crosses it), and tombstones before it
/// become empty too. Probes stop after `maxProbe` slots: an object not placed within that window
/// of its home slot takes a tombstone or evicts a slot of count 0 there, else falls back.
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
///   then it keeps the object alive and a new `open` of the object finds it again. A lazy slot
///   that reaches 0 is noted in a short pending list, so a flush visits those slots only (the
///   whole table if the list overflowed): a safe point must not scan 65535 slots.
/// - Counters: an `open` that finds its object, and every `dup` and `close` of a handle with a
///   slot, is a table hit; a `new` or `open` that fills a slot is a miss; a `new` or `open` that
///   gets index 0, and every `dup` and `close` of a handle with index 0, is a fallback. So
///   `hit_rate = hits / (hits + misses + fallbacks)` is the share of counted handle operations
///   the table served. Immortal objects count in none of them.
/// - The object is freed when its shared count reaches 0, by whichever thread brings it there.
/// - A local handle means nothing in another thread: there its index names another slot.
/// - Immortal objects get index 0 and are never counted.
public struct HandleLocalScheme: CountingScheme {
    public static let name = "handle-local"
    public static let summary = "handles carry a thread-local table index in spare pointer bits (the seed talk)"
    public static let reportedCounters: Set<CounterKind> = [.atomicRMW, .tableHits, .tableMisses, .fallbacks, .evictions, .frees]
    public static let isThreadSafe = true
    public static let handleIndex = DeclaredOption<HandleIndex>(
        "handle_index", default: .low3, help: "handle-local: the handle bits that index the thread's table")
    public static let release = DeclaredOption<ReleasePolicy>(
        "release", default: .lazy, help: "handle-local: when a slot whose count reached 0 gives back its shared reference")
    public static let declaredOptions = [handleIndex.declaration, release.declaration]

    /// The object word of a slot: no object, and never held one since it was last emptied.
    static let emptySlot: UInt = 0
    /// The object word of a released slot of a hashed table, which lookups must probe past.
    /// Addresses are at least 8-byte aligned, so 1 is never an object.
    static let tombstone: UInt = 1
    /// Tables with more slots than this are searched by hash instead of by a scan.
    static let scanLimit = 64
    /// The longest probe sequence of a hashed table.
    static let maxProbe = 64
    /// Slots noted for the next lazy flush before the flush falls back to a scan of the table.
    static let pendingCapacity = 256

    public final class Shared {
        let options: SchemeOptions
        init(options: SchemeOptions) { self.options = options }
    }

    let slotCount: Int
    /// The handle's index bits, in place, and the position of their lowest bit.
    let indexMask: UInt64
    let indexShift: UInt64
    /// The right rotation that turns the masked index bits into the slot's byte offset
    /// (`index * 16`): `indexShift - 4`, modulo 64.
    let offsetRotation: UInt64
    let isHashed: Bool
    let releaseEagerly: Bool
    /// Entry `i` (1...slotCount) is 16 bytes: the object's address (or `emptySlot`, `tombstone`),
    /// then its count.
    let table: UnsafeMutableRawPointer
    /// Slots whose count reached 0 under `lazy` since the last flush (may repeat, may be stale).
    let pending: UnsafeMutablePointer<Int>
    var pendingCount = 0
    var pendingOverflowed = false
    public var counters = SchemeCounters()

    public static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared {
        let index = options[handleIndex]
        guard options.objectAlignment >= index.requiredAlignment else {
            throw ConfigurationError("--handle-index \(index.rawValue) needs --object-align of at least \(index.requiredAlignment), got \(options.objectAlignment)")
        }
        return Shared(options: options)
    }

    public init(shared: Shared, threadID: Int) {
        let index = shared.options[Self.handleIndex]
        self.init(slotCount: index.slotCount, indexShift: index.shift, release: shared.options[Self.release])
    }

    /// A table of `slotCount` slots (a power of two minus one) whose index sits in the handle's
    /// bits from `indexShift` up; `HandleIndex` names the widths the command line offers.
    init(slotCount: Int, indexShift: Int, release: ReleasePolicy) {
        precondition(slotCount > 0 && (slotCount + 1) & slotCount == 0, "slot count must be 2^k - 1, got \(slotCount)")
        self.slotCount = slotCount
        self.indexShift = UInt64(indexShift)
        indexMask = UInt64(slotCount) << UInt64(indexShift)
        offsetRotation = (UInt64(indexShift) &- 4) & 63
        isHashed = slotCount > HandleLocalScheme.scanLimit
        releaseEagerly = release == .eager
        let bytes = (slotCount + 1) * 16
        table = .allocate(byteCount: bytes, alignment: 128)
        table.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        pending = .allocate(capacity: HandleLocalScheme.pendingCapacity)
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

    /// The byte offset in the table of the handle's slot, 0 for index 0: one AND and one rotate
    /// for every width, with no shift-range or overflow check.
    @inline(__always)
    func slotOffset(_ handle: Handle) -> Int {
        let index = handle.bits & indexMask
        return Int(truncatingIfNeeded: index &>> offsetRotation | index &<< (64 &- offsetRotation))
    }

    @inline(__always)
    func countCell(atOffset offset: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (table + offset + 8).assumingMemoryBound(to: Atomic<Int>.self)
    }

    func slotIndex(_ handle: Handle) -> Int { slotOffset(handle) / 16 }

    @inline(__always)
    public func object(of handle: Handle) -> ObjectRef { ObjectRef(handle, clearing: indexMask) }

    @inline(__always)
    func handle(_ object: ObjectRef, slot: Int) -> Handle {
        Handle(bits: Handle(object).bits | UInt64(truncatingIfNeeded: slot) << indexShift)
    }

    public mutating func new(_ object: ObjectRef) -> Handle {
        precondition(Handle(object).bits & indexMask == 0, "handle-local: object address \(object.address) uses the handle's index bits")
        if object.isImmortal { return Handle(object) }
        object.count.pointee.store(1, ordering: .relaxed)
        let slot = freeSlot(for: UInt(bitPattern: object.address))
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
        let found = isHashed ? probe(for: address) : scan(for: address)
        if found != 0 {
            let cell = slotCountCell(found)
            cell.pointee.store(cell.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
            counters.tableHits &+= 1
            return handle(object, slot: found)
        }
        incrementShared(object)
        let slot = freeSlot(for: address)
        guard slot != 0 else {
            counters.fallbacks &+= 1
            return Handle(object)
        }
        fill(slot, with: object)
        return handle(object, slot: slot)
    }

    /// The slot holding `address` in a scanned table, or 0.
    func scan(for address: UInt) -> Int {
        for slot in 1...slotCount where slotObject(slot).pointee == address { return slot }
        return 0
    }

    /// The first slot of `address`'s probe sequence in a hashed table.
    func homeSlot(of address: UInt) -> Int {
        let hash = (UInt64(address) >> 3) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: (hash >> 32) % UInt64(slotCount)) + 1
    }

    @inline(__always)
    func slot(after slot: Int) -> Int { slot == slotCount ? 1 : slot + 1 }

    @inline(__always)
    func slot(before slot: Int) -> Int { slot == 1 ? slotCount : slot - 1 }

    /// The slot holding `address` in a hashed table, or 0: probes from its home slot past
    /// tombstones and other objects, and stops at an empty slot or after `maxProbe` slots.
    func probe(for address: UInt) -> Int {
        var slot = homeSlot(of: address)
        for _ in 0..<HandleLocalScheme.maxProbe {
            let word = slotObject(slot).pointee
            if word == address { return slot }
            if word == HandleLocalScheme.emptySlot { return 0 }
            slot = self.slot(after: slot)
        }
        return 0
    }

    /// A slot for `address` (which is not in the table), evicting a slot of count 0 if there is
    /// no free one; 0 when there is none. A scanned table takes any slot; a hashed table takes
    /// the first tombstone or empty slot of the probe window, else a slot of count 0 in it.
    mutating func freeSlot(for address: UInt) -> Int {
        var free = 0
        var releasable = 0
        if isHashed {
            var slot = homeSlot(of: address)
            for _ in 0..<HandleLocalScheme.maxProbe {
                let word = slotObject(slot).pointee
                if word == HandleLocalScheme.emptySlot {
                    if free == 0 { free = slot }
                    break
                }
                if word == HandleLocalScheme.tombstone {
                    if free == 0 { free = slot }
                } else if releasable == 0 && slotCountCell(slot).pointee.load(ordering: .relaxed) == 0 {
                    releasable = slot
                }
                slot = self.slot(after: slot)
            }
        } else {
            for slot in 1...slotCount {
                if slotObject(slot).pointee == HandleLocalScheme.emptySlot { free = slot; break }
                if releasable == 0 && slotCountCell(slot).pointee.load(ordering: .relaxed) == 0 { releasable = slot }
            }
        }
        if free != 0 { return free }
        if releasable != 0 {
            // The slot stays occupied (the new object takes it over), so no probe path breaks.
            decrementShared(occupant(of: releasable))
            counters.evictions &+= 1
        }
        return releasable
    }

    /// Puts one shared reference the thread already holds into `slot`, with count 1.
    mutating func fill(_ slot: Int, with object: ObjectRef) {
        slotObject(slot).pointee = UInt(bitPattern: object.address)
        slotCountCell(slot).pointee.store(1, ordering: .relaxed)
        counters.tableMisses &+= 1
    }

    func occupant(of slot: Int) -> ObjectRef {
        ObjectRef(address: UnsafeMutableRawPointer(bitPattern: slotObject(slot).pointee)!)
    }

    /// Gives back the slot's shared reference and frees the slot.
    mutating func release(_ slot: Int) {
        let object = occupant(of: slot)
        vacate(slot)
        decrementShared(object)
    }

    /// Marks a slot unoccupied. In a hashed table it becomes a tombstone, unless the next slot is
    /// empty: then no live entry's probe path crosses it, and it and the tombstones before it
    /// become empty.
    mutating func vacate(_ slot: Int) {
        if !isHashed {
            slotObject(slot).pointee = HandleLocalScheme.emptySlot
            return
        }
        if slotObject(self.slot(after: slot)).pointee != HandleLocalScheme.emptySlot {
            slotObject(slot).pointee = HandleLocalScheme.tombstone
            return
        }
        var current = slot
        repeat {
            slotObject(current).pointee = HandleLocalScheme.emptySlot
            current = self.slot(before: current)
        } while slotObject(current).pointee == HandleLocalScheme.tombstone
    }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        let offset = slotOffset(handle)
        if offset != 0 {
            let cell = countCell(atOffset: offset)
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
        let offset = slotOffset(handle)
        if offset != 0 {
            let cell = countCell(atOffset: offset)
            let count = cell.pointee.load(ordering: .relaxed) &- 1
            cell.pointee.store(count, ordering: .relaxed)
            counters.tableHits &+= 1
            if count == 0 { countReachedZero(offset / 16) }
        } else {
            let object = object(of: handle)
            if !object.isImmortal {
                decrementShared(object)
                counters.fallbacks &+= 1
            }
        }
    }

    /// Releases the slot at once (`eager`), or notes it for the next flush (`lazy`).
    @inline(never)
    mutating func countReachedZero(_ slot: Int) {
        if releaseEagerly {
            release(slot)
        } else if pendingCount < HandleLocalScheme.pendingCapacity {
            pending[pendingCount] = slot
            pendingCount += 1
        } else {
            pendingOverflowed = true
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

    /// Whether the slot holds an object whose count is 0.
    func isReleasable(_ slot: Int) -> Bool {
        slotObject(slot).pointee > HandleLocalScheme.tombstone && slotCountCell(slot).pointee.load(ordering: .relaxed) == 0
    }

    /// Scope exit is a flush, like a safe point.
    public mutating func exitScope() { safePoint() }

    /// Releases every slot whose count is 0: the pending ones, or all if the list overflowed.
    public mutating func safePoint() {
        if pendingOverflowed {
            releaseAllReleasable()
        } else {
            for index in 0..<pendingCount where isReleasable(pending[index]) { release(pending[index]) }
        }
        pendingCount = 0
        pendingOverflowed = false
    }

    mutating func releaseAllReleasable() {
        for slot in 1...slotCount where isReleasable(slot) { release(slot) }
    }

    /// Flushes the whole table. A slot still counting open handles keeps its reference: those
    /// handles leaked, and validation reports their objects as never freed.
    public mutating func threadExit() {
        releaseAllReleasable()
        pendingCount = 0
        table.deallocate()
        pending.deallocate()
    }

    public static func referenceCount(of object: ObjectRef) -> Int? {
        object.count.pointee.load(ordering: .relaxed)
    }
}

/// The universal table (`UniversalScheme`): each entry calls this scheme's own operation.
extension HandleLocalScheme: UniversalScheme {
    public static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}
