import Synchronization

/// `handle-local`: the proposal of the seed talk, "a possible approach for CPython". In a
/// free-threaded CPython, an extension's local handles index a thread-local table, so that
/// `HPy_Dup` and `HPy_Close` skip `Py_INCREF`'s free-threaded path; every reference that is not a
/// local handle stays the runtime's (`HandleRuntime`, `--runtime`): the interpreter's own (a
/// trace's interpreter events), fields and globals and the loads from them, references in
/// flight between threads, and the references a slot holds on the thread's behalf. With
/// `--runtime biased` (the default) those are the `biased` scheme's own steps on CPython's
/// header: the owner's plain, a non-owner's atomic, the merge queue; with `atomic`, one atomic
/// count. The scheme is generic over the runtime, so each composition is specialised.
///
/// A handle is `address | i << shift`, where the index `i`, kept in bits the address never uses,
/// names a slot of the thread's local reference-count table (`LocalReferenceTable`, the building
/// block that holds the slots, finds an object's slot, picks a slot to fill and keeps the pending
/// list); index 0 means "no slot". The widths (`HandleIndex`):
///
///     low3-hpy  bits 1..<3 of an 8-byte-aligned address; bit 0 stays HPy's   3 slots   scan
///               (HPy's handles.h `_py2h`: set on universal handles, clear on
///               debug ones; left clear here, `HandleIndex.low3HPy`)
///     low3      bits 0..<3 of an 8-byte-aligned address                      7 slots   scan
///     low4      bits 0..<4 of a 16-byte-aligned address                    15 slots   scan
///     high16    bits 48..<64, unused by x86-64 user addresses            65535 slots   hash
///
/// Invariants:
/// - The table is owned by one thread; nothing in it is atomic and no other thread reads it.
/// - An occupied slot holds `1 + extra` runtime references to its object on behalf of the
///   thread, whatever its count; its count is the number of the thread's open handles with that
///   index. `extra` is 0 unless a non-local reference the thread gave up, or received, was parked
///   in the slot (below).
/// - `dup` and `close` of a handle with a slot change only the slot's count: no runtime step, no
///   write to the object, so the object's cache line stays shared-clean in every core.
/// - A handle with index 0 is itself one runtime reference: its `dup` and `close` are the
///   runtime's increment and decrement.
/// - `new`: the runtime's first reference (`biased`: `_Py_NewReference`, the instance's reference
///   to its type, and 3.13's immortality for what it makes immortal) goes into a slot.
/// - `open`: a hit (the object has a slot) adds 1 to the count; a miss takes one runtime
///   reference and fills a free slot, or evicts a slot of count 0 (a clock over use counts,
///   `LocalReferenceTable`, so the objects opened most often keep their slots) (giving back its
///   references), or falls back to index 0 when every slot is in use. `load` from a field or
///   global is an open whose miss takes the reference as the runtime reads such a slot
///   (`biased`: `_Py_TryIncrefCompare`).
/// - A slot whose count reaches 0 gives its references back at once (`eager`), or keeps its
///   object and its references (`lazy`, the default) until it is evicted or flushed: at every
///   `safePointsPerFlush`-th safe point of the thread (the 16th, the 32nd, ...: about every
///   65536 operations) and at thread exit, as the design says; nothing else flushes. The pending list holds each slot at most once, so
///   it never outgrows the table. Scope exit does not flush, so an object opened in every call
///   (an argument, a type) stays in the table across calls and costs the runtime nothing per call.
/// - A non-local reference the thread gives up (`release`) for an object that has a slot is
///   parked in the slot (`extra += 1`) instead of being ended by the runtime; one the thread
///   takes (`retain`, `transfer`) is taken from the parked ones when there are any (a store
///   still does what the runtime's store does besides counting, `HandleRuntime.noteStored`, and
///   nothing more: `biased`'s store is `Py_INCREF` alone, so nothing, since handle-local takes
///   no `--weakref-share` and its runtime runs at 0). A received reference (`adopt`) moves into
///   a slot: it fills one, or is parked in the object's slot. Deferring a decrement never frees an object early: the
///   references stay counted until the slot gives them back.
/// - A slot gives back its `1 + extra` references through the runtime (`HandleRuntime.decrement(_:references:)`):
///   `biased` drops them one `Py_DECREF` at a time, so the owner's are plain and the last one,
///   with a shared word of 0, frees with no atomic as CPython does; `atomic` frees with no atomic
///   read-modify-write when the count equals them (a choice of that runtime's model) and
///   otherwise subtracts them in one step.
/// - Counters: `table_hits` counts opens (`open`, `load`, `adopt`) of an existing mortal object
///   that found its slot, `table_misses` those that filled one, `fallbacks` those that got index
///   0; a birth (`new`) is none of them. So `hit_rate` = hits / (hits + misses + fallbacks) is
///   the share of opens of existing objects the table served. `local_dup_close` counts dups and
///   closes done in the table alone; the runtime's counters (atomics, merges, queued) are added.
/// - The runtime's eval-breaker check comes where `biased` makes it: at every call's entry
///   (`enterScope`) and at every safe point.
/// - A local handle means nothing in another thread: there its index names another slot. Only a
///   field, a global or `send` may carry an object across threads, and each is a runtime
///   reference.
/// - Immortal objects get index 0 and are never counted.
/// - With `--tag-bits k` (`HandleTags`) the lowest k bits of the index field are a tag: an int
///   (and, with 2 bits, a float) is an immediate, a handle that is its value, never allocated
///   and never counted; `dup` returns it, `close` does nothing, `read` decodes it. The index
///   keeps the bits above the tag, so the table has `2^(b-k) - 1` slots. An immediate is never
///   stored in a field or sent (the `numeric` workload does neither): `object(of:)` of one has no
///   meaning.
/// The options of `handle-local`, declared once for every runtime it is composed over.
public enum HandleLocalOptions {
    public static let handleIndex = DeclaredOption<HandleIndex>(
        "handle_index", default: .low3, help: "handle-local: the handle bits that index the thread's table")
    public static let release = DeclaredOption<ReleasePolicy>(
        "release", default: .lazy, help: "handle-local: when a slot whose count reached 0 gives back its runtime reference")
    public static let tagBits = DeclaredOption<Int>(
        "tag_bits", default: 0, help: "handle-local: index bits taken as a tag for immediate ints (1) and floats (2)",
        check: { (0...2).contains($0) ? nil : "must be 0, 1 or 2, got \($0)" },
        refusedElsewhere: "tag bits come out of handle-local's table index")
}

/// `handle-local` on CPython 3.13t's counting, the default (`--runtime biased`).
public typealias HandleLocalScheme = HandleLocal<BiasedRuntime>

public struct HandleLocal<Runtime: HandleRuntime>: CountingScheme {
    public static var name: String { "handle-local" }
    public static var summary: String {
        "the seed talk's proposal: handles carry a thread-local table index in spare pointer bits, on CPython's counting (--runtime)"
    }
    public static var reportedCounters: Set<CounterKind> {
        [.atomicRMW, .casRetries, .merges, .queued, .tableHits, .tableMisses, .fallbacks, .evictions, .localDupClose, .frees]
    }
    public static var isThreadSafe: Bool { true }
    public static var handleIndex: DeclaredOption<HandleIndex> { HandleLocalOptions.handleIndex }
    public static var release: DeclaredOption<ReleasePolicy> { HandleLocalOptions.release }
    public static var tagBits: DeclaredOption<Int> { HandleLocalOptions.tagBits }
    public static var declaredOptions: [OptionDeclaration] {
        [RuntimeChoice.option.declaration, handleIndex.declaration, release.declaration, tagBits.declaration]
    }

    /// Safe points between two flushes of a lazy table, and before its first: a table flushes at
    /// its thread's 16th safe point, its 32nd, and so on. The runner's safe point follows every
    /// pass (about 4096 handle operations), so a flush comes about every 65536 operations: the
    /// "every N operations" of the design, rare enough that a hot object opened in every call
    /// stays in the table across calls.
    static var safePointsPerFlush: Int { 16 }

    /// The most objects a lazy table keeps after their handles are all closed, for a thread that
    /// bears `birthsPerPass` objects a pass: those of the `safePointsPerFlush` passes before a
    /// flush and of the pass under way (a high16 table's 65535 slots seldom evict one). A
    /// workload's region holds them besides what it keeps itself; a smaller region runs dry, and
    /// `allocate` then waits with safe points and `sched_yield` inside the timed loop, a cost no
    /// runtime pays.
    public static func keptBetweenFlushes(birthsPerPass: Int) -> Int { (safePointsPerFlush + 1) * birthsPerPass }

    public final class Shared {
        let options: SchemeOptions
        let runtime: Runtime.Shared
        init(options: SchemeOptions, runtime: Runtime.Shared) {
            self.options = options
            self.runtime = runtime
        }
    }

    let table: LocalReferenceTable
    let tags: HandleTags
    let releaseEagerly: Bool
    var runtime: Runtime
    /// What the table did; the runtime keeps its own counters, and the row reports both.
    var tableCounters = SchemeCounters()
    public var counters: SchemeCounters { tableCounters + runtime.counters }

    public static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared {
        let index = options[handleIndex]
        guard options.objectAlignment >= index.requiredAlignment else {
            throw ConfigurationError("--handle-index \(index.rawValue) needs --object-align of at least \(index.requiredAlignment), got \(options.objectAlignment)")
        }
        let tagBits = options[Self.tagBits]
        guard HandleTags.slotCount(index, tagBits: tagBits) >= 1 else {
            throw ConfigurationError(option: Self.tagBits.name, "\(tagBits) leaves no slot in --handle-index \(index.rawValue) (\(index.slotCount) slots)")
        }
        return Shared(options: options, runtime: Runtime.makeShared(options: options, threads: threads))
    }

    public init(shared: Shared, threadID: Int) {
        let index = shared.options[Self.handleIndex]
        let tagBits = shared.options[Self.tagBits]
        self.init(
            slotCount: HandleTags.slotCount(index, tagBits: tagBits), indexShift: index.shift + tagBits,
            release: shared.options[Self.release], runtime: Runtime(shared: shared.runtime, threadID: threadID),
            tags: HandleTags(bitCount: tagBits, indexShift: index.shift))
    }

    /// A table of `slotCount` slots (a power of two minus one) whose index sits in the handle's
    /// bits from `indexShift` up; `HandleIndex` names the widths the command line offers.
    init(slotCount: Int, indexShift: Int, release: ReleasePolicy, runtime: Runtime, tags: HandleTags? = nil) {
        table = LocalReferenceTable(slotCount: slotCount, indexShift: indexShift)
        // A full interval before the first flush too, not a flush at the first safe point.
        table.safePointCountdown.pointee = Self.safePointsPerFlush
        self.tags = tags ?? HandleTags(bitCount: 0, indexShift: indexShift)
        releaseEagerly = release == .eager
        self.runtime = runtime
    }

    @inline(__always)
    public mutating func immediate(_ number: Number) -> Handle { tags.immediate(number) }

    @inline(__always)
    public func object(of handle: Handle) -> ObjectRef { ObjectRef(handle, clearing: table.indexMask) }

    /// The runtime's `new` (which may make the object immortal), then a slot for its reference.
    /// A birth is not an open: it counts in none of the table's hit counters.
    public mutating func new(_ object: ObjectRef) -> Handle {
        precondition(Handle(object).bits & table.indexMask == 0, "handle-local: object address \(object.address) uses the handle's index bits")
        runtime.new(object)
        if object.isImmortal { return Handle(object) }
        return place(object, isOpen: false)
    }

    public mutating func open(_ object: ObjectRef) -> Handle {
        if object.isImmortal { return Handle(object) }
        if let hit = hit(object) { return hit }
        runtime.increment(object)
        return place(object, isOpen: true)
    }

    /// A field's or global's object: a slot already keeps it alive, else the runtime reads the
    /// slot as it reads such slots and the reference it takes fills a slot.
    public mutating func load(from slot: UnsafeMutablePointer<UInt>) -> Handle {
        let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: slot.pointee)!)
        if object.isImmortal { return Handle(object) }
        if let hit = hit(object) { return hit }
        return place(runtime.load(from: slot), isOpen: true)
    }

    /// A handle to `object` from its slot, if it has one: the count goes up by 1.
    @inline(__always)
    mutating func hit(_ object: ObjectRef) -> Handle? {
        let slot = table.find(UInt(bitPattern: object.address))
        guard slot != 0 else { return nil }
        table.countWord(slot).pointee &+= 1
        table.touch(slot)
        tableCounters.tableHits &+= 1
        return table.handle(object, slot: slot)
    }

    /// Puts one runtime reference the thread holds to `object` (which has no slot) into a slot,
    /// evicting one of count 0 if it must; with no slot to take, the reference is the handle.
    /// `isOpen`: an open of an existing object, which the hit counters count.
    mutating func place(_ object: ObjectRef, isOpen: Bool) -> Handle {
        let slot = table.slotToFill(for: UInt(bitPattern: object.address))
        guard slot != 0 else {
            if isOpen { tableCounters.fallbacks &+= 1 }
            return Handle(object)
        }
        if table.isOccupied(slot) {
            tableCounters.evictions &+= 1
            giveBack(slot)
        }
        table.fill(slot, with: object)
        if isOpen { tableCounters.tableMisses &+= 1 }
        return table.handle(object, slot: slot)
    }

    /// Empties an occupied slot and gives every runtime reference it holds back to the runtime.
    mutating func giveBack(_ slot: Int) {
        let object = table.occupant(of: slot)
        let references = 1 &+ table.extraReferences(slot)
        table.vacate(slot)
        runtime.decrement(object, references: references)
    }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        if tags.isImmediate(handle) { return handle }
        let offset = table.offset(of: handle)
        if offset != 0 {
            table.countWord(atOffset: offset).pointee &+= 1
            tableCounters.localDupClose &+= 1
        } else {
            let object = object(of: handle)
            if !object.isImmortal { runtime.increment(object) }
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
            tableCounters.localDupClose &+= 1
            if count == 0 { countReachedZero(offset &>> Int(LocalReferenceTable.slotShift)) }
        } else {
            let object = object(of: handle)
            if !object.isImmortal { runtime.decrement(object) }
        }
    }

    /// Gives the slot's references back at once (`eager`), or notes it for the next flush (`lazy`).
    @inline(never)
    mutating func countReachedZero(_ slot: Int) {
        if releaseEagerly {
            giveBack(slot)
        } else {
            _ = table.notePending(slot)
        }
    }

    @inline(__always)
    public func read(_ handle: Handle) -> UInt64 {
        tags.isImmediate(handle) ? tags.value(of: handle) : object(of: handle).payload
    }

    /// A reference kept in a field or global, or the interpreter's own: one parked in the
    /// object's slot (with what the runtime's store does besides counting: `biased`, nothing),
    /// else the runtime's store.
    public mutating func retain(_ object: ObjectRef) {
        if object.isImmortal { return }
        let slot = table.find(UInt(bitPattern: object.address))
        if slot != 0 && table.extraReferences(slot) > 0 {
            table.addExtraReferences(slot, -1)
            runtime.noteStored(object)
        } else {
            runtime.store(object)
        }
    }

    /// Parks the reference in the object's slot, if it has one; else the runtime ends it.
    public mutating func release(_ object: ObjectRef) {
        if object.isImmortal { return }
        let slot = table.find(UInt(bitPattern: object.address))
        if slot != 0 {
            table.addExtraReferences(slot, 1)
        } else {
            runtime.decrement(object)
        }
    }

    /// A handle without a slot is a runtime reference already and moves; a slot handle gives one
    /// of the slot's parked references, or takes a new one, and closes.
    public mutating func transfer(_ handle: Handle) -> ObjectRef {
        let object = object(of: handle)
        let slot = table.slot(of: handle)
        if slot != 0 {
            if table.extraReferences(slot) > 0 {
                table.addExtraReferences(slot, -1)
            } else {
                runtime.increment(object)
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
            tableCounters.tableHits &+= 1
            return table.handle(object, slot: slot)
        }
        return place(object, isOpen: true)
    }

    /// The interpreter's check on entering the Python function that makes the call, as the
    /// runtime makes it (`biased`: the eval-breaker, where the owner merges its queue).
    @inline(__always)
    public mutating func enterScope() { runtime.enterScope() }

    /// The runtime's safe point; the table flushes at every `safePointsPerFlush`-th, counted
    /// from the thread's first (the countdown starts full, `init`).
    public mutating func safePoint() {
        runtime.safePoint()
        let countdown = table.safePointCountdown
        countdown.pointee &-= 1
        if countdown.pointee <= 0 {
            countdown.pointee = Self.safePointsPerFlush
            flush()
        }
    }

    /// A safe point that flushes whatever the cadence says.
    public mutating func settle() {
        runtime.safePoint()
        flush()
    }

    /// Gives back the references of every slot whose count is 0: those in the pending list.
    public mutating func flush() {
        let table = self.table
        table.flushPending { giveBack($0) }
    }

    /// Flushes the table, then lets the runtime finish (`biased`: merges the thread's queue and
    /// leaves its bucket). A slot still counting open handles keeps its references: those
    /// handles leaked, and validation reports their objects as never freed.
    public mutating func threadExit() {
        flush()
        table.deallocate()
        runtime.threadExit()
    }

    public static func referenceCount(of object: ObjectRef) -> Int? { Runtime.referenceCount(of: object) }
}

extension HandleLocal: UniversalScheme {
    /// The table of this composition: a table's entries are C function pointers, which a generic
    /// type cannot form, so each composition's table is written out where its type is concrete.
    public static var universalTable: UniversalTable {
        switch Runtime.choice {
        case .biased: HandleLocalUniversalTables.biased
        case .atomic: HandleLocalUniversalTables.atomic
        }
    }
}

enum HandleLocalUniversalTables {
    static let biased = UniversalTable(
        new: { UniversalEntries<HandleLocal<BiasedRuntime>>.new($0, $1) }, open: { UniversalEntries<HandleLocal<BiasedRuntime>>.open($0, $1) }, load: { UniversalEntries<HandleLocal<BiasedRuntime>>.load($0, $1) },
        dup: { UniversalEntries<HandleLocal<BiasedRuntime>>.dup($0, $1) }, close: { UniversalEntries<HandleLocal<BiasedRuntime>>.close($0, $1) }, read: { UniversalEntries<HandleLocal<BiasedRuntime>>.read($0, $1) },
        object: { UniversalEntries<HandleLocal<BiasedRuntime>>.object($0, $1) }, retain: { UniversalEntries<HandleLocal<BiasedRuntime>>.retain($0, $1) }, release: { UniversalEntries<HandleLocal<BiasedRuntime>>.release($0, $1) },
        transfer: { UniversalEntries<HandleLocal<BiasedRuntime>>.transfer($0, $1) }, adopt: { UniversalEntries<HandleLocal<BiasedRuntime>>.adopt($0, $1) }, returning: { UniversalEntries<HandleLocal<BiasedRuntime>>.returning($0, $1) },
        enterScope: { UniversalEntries<HandleLocal<BiasedRuntime>>.enterScope($0, $1) }, exitScope: { UniversalEntries<HandleLocal<BiasedRuntime>>.exitScope($0, $1) }, immediate: { UniversalEntries<HandleLocal<BiasedRuntime>>.immediate($0, $1) })
    static let atomic = UniversalTable(
        new: { UniversalEntries<HandleLocal<AtomicRuntime>>.new($0, $1) }, open: { UniversalEntries<HandleLocal<AtomicRuntime>>.open($0, $1) }, load: { UniversalEntries<HandleLocal<AtomicRuntime>>.load($0, $1) },
        dup: { UniversalEntries<HandleLocal<AtomicRuntime>>.dup($0, $1) }, close: { UniversalEntries<HandleLocal<AtomicRuntime>>.close($0, $1) }, read: { UniversalEntries<HandleLocal<AtomicRuntime>>.read($0, $1) },
        object: { UniversalEntries<HandleLocal<AtomicRuntime>>.object($0, $1) }, retain: { UniversalEntries<HandleLocal<AtomicRuntime>>.retain($0, $1) }, release: { UniversalEntries<HandleLocal<AtomicRuntime>>.release($0, $1) },
        transfer: { UniversalEntries<HandleLocal<AtomicRuntime>>.transfer($0, $1) }, adopt: { UniversalEntries<HandleLocal<AtomicRuntime>>.adopt($0, $1) }, returning: { UniversalEntries<HandleLocal<AtomicRuntime>>.returning($0, $1) },
        enterScope: { UniversalEntries<HandleLocal<AtomicRuntime>>.enterScope($0, $1) }, exitScope: { UniversalEntries<HandleLocal<AtomicRuntime>>.exitScope($0, $1) }, immediate: { UniversalEntries<HandleLocal<AtomicRuntime>>.immediate($0, $1) })
}
