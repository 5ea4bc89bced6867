import Synchronization

/// `handle-local`: the handle design of the seed talk. A handle is `address | i << shift`, where
/// the index `i`, kept in bits the address never uses, names a slot of the thread's local
/// reference-count table (`LocalReferenceTable`, the building block that holds the slots, finds
/// an object's slot, picks a slot to fill and keeps the pending list); index 0 means "no slot".
/// The widths (`HandleIndex`):
///
///     low3-hpy  bits 1..<3 of an 8-byte-aligned address; bit 0 stays HPy's   3 slots   scan
///               (HPy's universal ABI on CPython tags debug handles with it)
///     low3      bits 0..<3 of an 8-byte-aligned address                      7 slots   scan
///     low4      bits 0..<4 of a 16-byte-aligned address                    15 slots   scan
///     high16    bits 48..<64, unused by x86-64 user addresses            65535 slots   hash
///
/// Invariants:
/// - The table is owned by one thread; nothing in it is atomic and no other thread reads it.
/// - An occupied slot holds `1 + extra` shared (atomic) references to its object on behalf of
///   the thread, whatever its count; its count is the number of the thread's open handles with
///   that index. `extra` is 0 unless a non-local reference the thread gave up, or received, was
///   parked in the slot (below).
/// - `dup` and `close` of a handle with a slot change only the slot's count: no atomic, no write
///   to the object, so the object's cache line stays shared-clean in every core.
/// - A handle with index 0 is itself one shared reference: its `dup` and `close` are atomic.
/// - `open`: a hit (the object has a slot) adds 1 to the count; a miss takes one shared
///   reference and fills a free slot, or evicts a slot of count 0 (a clock over use counts,
///   `LocalReferenceTable`, so the objects opened most often keep their slots)
///   (giving back its references), or falls back to index 0 when every slot is in use.
/// - A slot whose count reaches 0 gives its references back at once (`eager`), or keeps its
///   object and its references (`lazy`, the default) until it is evicted or flushed: at every
///   `safePointsPerFlush`-th safe point (about every 65536 operations), at thread exit, or when
///   `pendingLimit` slots wait (which bounds the objects deferral keeps alive in a hashed table). Scope
///   exit does not flush, so an object opened in every call (an argument, a type) stays in the
///   table across calls and costs no atomic per call.
/// - A non-local reference the thread gives up (`release`) for an object that has a slot is
///   parked in the slot (`extra += 1`) instead of being given back by an atomic decrement; one
///   the thread takes (`retain`, `transfer`) is taken from the parked ones when there are any.
///   A received reference (`adopt`) moves into a slot: it fills one, or is parked in the
///   object's slot. Deferring a decrement never frees an object early: the references stay
///   counted until the slot gives them back.
/// - A slot gives back its `1 + extra` references in one step: when the shared count equals
///   them, every reference is the thread's, no other thread can reach the object (reaching it
///   takes a reference), and it is freed with no atomic read-modify-write; otherwise by one
///   atomic subtraction, which frees the object when it reaches 0. The free without an atomic is
///   a choice of this model (`arena` frees a never-escaped object the same way); the talk does
///   not say how the last reference is given back.
/// - Counters, for the opens of mortal objects (`new`, `open`, `adopt`): `table_hits` found the
///   object's slot, `table_misses` filled one, `fallbacks` got index 0; `hit_rate` =
///   hits / (hits + misses + fallbacks) is the share of opens the table served, which drops when
///   the slots are too few. `local_dup_close` counts dups and closes done in the table alone.
/// - A local handle means nothing in another thread: there its index names another slot. Only a
///   field, a global or `send` may carry an object across threads, and each is a shared
///   reference.
/// - Immortal objects get index 0 and are never counted.
/// - With `--tag-bits k` (`HandleTags`) the lowest k bits of the index field are a tag: an int
///   (and, with 2 bits, a float) is an immediate, a handle that is its value, never allocated
///   and never counted; `dup` returns it, `close` does nothing, `read` decodes it. The index
///   keeps the bits above the tag, so the table has `2^(b-k) - 1` slots. An immediate is never
///   stored in a field or sent (the `numeric` workload does neither): `object(of:)` of one has no
///   meaning.
public struct HandleLocalScheme: CountingScheme {
    public static let name = "handle-local"
    public static let summary = "handles carry a thread-local table index in spare pointer bits (the seed talk)"
    public static let reportedCounters: Set<CounterKind> = [
        .atomicRMW, .tableHits, .tableMisses, .fallbacks, .evictions, .localDupClose, .frees,
    ]
    public static let isThreadSafe = true
    public static let handleIndex = DeclaredOption<HandleIndex>(
        "handle_index", default: .low3, help: "handle-local: the handle bits that index the thread's table")
    public static let release = DeclaredOption<ReleasePolicy>(
        "release", default: .lazy, help: "handle-local: when a slot whose count reached 0 gives back its shared reference")
    public static let tagBits = DeclaredOption<Int>(
        "tag_bits", default: 0, help: "handle-local: index bits taken as a tag for immediate ints (1) and floats (2)",
        check: { (0...2).contains($0) ? nil : "must be 0, 1 or 2, got \($0)" },
        refusedElsewhere: "tag bits come out of handle-local's table index")
    public static let declaredOptions = [handleIndex.declaration, release.declaration, tagBits.declaration]

    /// Safe points between two flushes of a lazy table. The runner's safe point follows every
    /// pass (about 4096 handle operations), so a flush comes about every 65536 operations: the
    /// "every N operations" of the design, rare enough that a hot object opened in every call
    /// stays in the table across calls.
    static let safePointsPerFlush = 16
    /// Slots of count 0 a lazy table keeps before it flushes at once: the bound on the objects
    /// deferral keeps alive. Only a hashed table reaches it (a scanned one evicts first).
    static let pendingLimit = 256

    public final class Shared {
        let options: SchemeOptions
        init(options: SchemeOptions) { self.options = options }
    }

    let table: LocalReferenceTable
    let tags: HandleTags
    let releaseEagerly: Bool
    public var counters = SchemeCounters()

    public static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared {
        let index = options[handleIndex]
        guard options.objectAlignment >= index.requiredAlignment else {
            throw ConfigurationError("--handle-index \(index.rawValue) needs --object-align of at least \(index.requiredAlignment), got \(options.objectAlignment)")
        }
        let tagBits = options[Self.tagBits]
        guard HandleTags.slotCount(index, tagBits: tagBits) >= 1 else {
            throw ConfigurationError(option: Self.tagBits.name, "\(tagBits) leaves no slot in --handle-index \(index.rawValue) (\(index.slotCount) slots)")
        }
        return Shared(options: options)
    }

    public init(shared: Shared, threadID: Int) {
        let index = shared.options[Self.handleIndex]
        let tagBits = shared.options[Self.tagBits]
        self.init(
            slotCount: HandleTags.slotCount(index, tagBits: tagBits), indexShift: index.shift + tagBits,
            release: shared.options[Self.release], tags: HandleTags(bitCount: tagBits, indexShift: index.shift))
    }

    /// A table of `slotCount` slots (a power of two minus one) whose index sits in the handle's
    /// bits from `indexShift` up; `HandleIndex` names the widths the command line offers.
    init(slotCount: Int, indexShift: Int, release: ReleasePolicy, tags: HandleTags? = nil) {
        table = LocalReferenceTable(slotCount: slotCount, indexShift: indexShift)
        self.tags = tags ?? HandleTags(bitCount: 0, indexShift: indexShift)
        releaseEagerly = release == .eager
    }

    @inline(__always)
    public mutating func immediate(_ number: Number) -> Handle { tags.immediate(number) }

    @inline(__always)
    public func object(of handle: Handle) -> ObjectRef { ObjectRef(handle, clearing: table.indexMask) }

    public mutating func new(_ object: ObjectRef) -> Handle {
        precondition(Handle(object).bits & table.indexMask == 0, "handle-local: object address \(object.address) uses the handle's index bits")
        if object.isImmortal { return Handle(object) }
        object.count.pointee.store(1, ordering: .relaxed)
        return place(object)
    }

    public mutating func open(_ object: ObjectRef) -> Handle {
        if object.isImmortal { return Handle(object) }
        if let hit = hit(object) { return hit }
        incrementShared(object)
        return place(object)
    }

    /// A handle to `object` from its slot, if it has one: the count goes up by 1.
    @inline(__always)
    mutating func hit(_ object: ObjectRef) -> Handle? {
        let slot = table.find(UInt(bitPattern: object.address))
        guard slot != 0 else { return nil }
        table.countWord(slot).pointee &+= 1
        table.touch(slot)
        counters.tableHits &+= 1
        return table.handle(object, slot: slot)
    }

    /// Puts one shared reference the thread holds to `object` (which has no slot) into a slot,
    /// evicting one of count 0 if it must; with no slot to take, the reference is the handle.
    mutating func place(_ object: ObjectRef) -> Handle {
        let slot = table.slotToFill(for: UInt(bitPattern: object.address))
        guard slot != 0 else {
            counters.fallbacks &+= 1
            return Handle(object)
        }
        if table.isOccupied(slot) {
            counters.evictions &+= 1
            giveBack(slot)
        }
        table.fill(slot, with: object)
        counters.tableMisses &+= 1
        return table.handle(object, slot: slot)
    }

    /// Empties an occupied slot and gives back every shared reference it holds.
    mutating func giveBack(_ slot: Int) {
        let object = table.occupant(of: slot)
        let references = 1 &+ table.extraReferences(slot)
        table.vacate(slot)
        if object.count.pointee.load(ordering: .acquiring) == references {
            ObjectPool.free(object)
            counters.frees &+= 1
            return
        }
        counters.atomicRMW &+= 1
        if object.count.pointee.wrappingSubtract(references, ordering: .acquiringAndReleasing).oldValue == references {
            ObjectPool.free(object)
            counters.frees &+= 1
        }
    }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        if tags.isImmediate(handle) { return handle }
        let offset = table.offset(of: handle)
        if offset != 0 {
            table.countWord(atOffset: offset).pointee &+= 1
            counters.localDupClose &+= 1
        } else {
            let object = object(of: handle)
            if !object.isImmortal { incrementShared(object) }
        }
        return handle
    }

    @inline(__always)
    public mutating func close(_ handle: Handle) {
        if tags.isImmediate(handle) { return }
        let offset = table.offset(of: handle)
        if offset != 0 {
            let cell = table.countWord(atOffset: offset)
            let count = cell.pointee &- 1
            cell.pointee = count
            counters.localDupClose &+= 1
            if count == 0 { countReachedZero(offset &>> Int(LocalReferenceTable.slotShift)) }
        } else {
            let object = object(of: handle)
            if !object.isImmortal { decrementShared(object) }
        }
    }

    /// Gives the slot's references back at once (`eager`), or notes it for the next flush (`lazy`).
    @inline(never)
    mutating func countReachedZero(_ slot: Int) {
        if releaseEagerly {
            giveBack(slot)
        } else if table.notePending(slot) >= HandleLocalScheme.pendingLimit {
            flush()
        }
    }

    @inline(__always)
    public func read(_ handle: Handle) -> UInt64 {
        tags.isImmediate(handle) ? tags.value(of: handle) : object(of: handle).payload
    }

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
            counters.frees &+= 1
        }
    }

    /// A non-local reference: one parked in the object's slot, else a new shared reference.
    public mutating func retain(_ object: ObjectRef) {
        if object.isImmortal { return }
        let slot = table.find(UInt(bitPattern: object.address))
        if slot != 0 && table.extraReferences(slot) > 0 {
            table.addExtraReferences(slot, -1)
        } else {
            incrementShared(object)
        }
    }

    /// Parks the reference in the object's slot, if it has one; else gives it back.
    public mutating func release(_ object: ObjectRef) {
        if object.isImmortal { return }
        let slot = table.find(UInt(bitPattern: object.address))
        if slot != 0 {
            table.addExtraReferences(slot, 1)
        } else {
            decrementShared(object)
        }
    }

    /// A handle without a slot is a shared reference already and moves; a slot handle gives one
    /// of the slot's parked references, or takes a new one, and closes.
    public mutating func transfer(_ handle: Handle) -> ObjectRef {
        let object = object(of: handle)
        let slot = table.slot(of: handle)
        if slot != 0 {
            if table.extraReferences(slot) > 0 {
                table.addExtraReferences(slot, -1)
            } else {
                incrementShared(object)
            }
            close(handle)
        }
        return object
    }

    /// The received reference moves into the table: it fills a slot, or is parked in the
    /// object's slot; with no slot to take, it is the handle.
    public mutating func adopt(_ object: ObjectRef) -> Handle {
        if object.isImmortal { return Handle(object) }
        let slot = table.find(UInt(bitPattern: object.address))
        if slot != 0 {
            table.addExtraReferences(slot, 1)
            table.countWord(slot).pointee &+= 1
            table.touch(slot)
            counters.tableHits &+= 1
            return table.handle(object, slot: slot)
        }
        return place(object)
    }

    /// Flushes the table at every `safePointsPerFlush`-th safe point.
    public mutating func safePoint() {
        let countdown = table.safePointCountdown
        countdown.pointee &-= 1
        if countdown.pointee <= 0 {
            countdown.pointee = HandleLocalScheme.safePointsPerFlush
            flush()
        }
    }

    /// Gives back the references of every slot whose count is 0: those in the pending list.
    public mutating func flush() {
        let table = self.table
        table.flushPending { giveBack($0) }
    }

    /// Flushes the table. A slot still counting open handles keeps its references: those handles
    /// leaked, and validation reports their objects as never freed.
    public mutating func threadExit() {
        flush()
        table.deallocate()
    }

    public static func referenceCount(of object: ObjectRef) -> Int? {
        object.count.pointee.load(ordering: .relaxed)
    }
}

extension HandleLocalScheme: UniversalScheme {
    public static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) }, immediate: { Entries.immediate($0, $1) })
}
