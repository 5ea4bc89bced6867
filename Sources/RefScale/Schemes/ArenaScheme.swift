import Synchronization

/// `arena`: call-scoped local handles as the seed proposes them ("Arena (de-)allocations: fast,
/// good for NOGIL"). No runtime ships them: PyPy's and GraalPy's HPy handles are entries of a
/// handle table that live until closed (`handle-table`). A handle made inside a scope (one
/// simulated extension call) is an index into the thread's handle arena, an array of object
/// addresses that is bump-allocated and reset in bulk when the scope exits. Every reference that
/// is not a local handle — the interpreter's own, fields and globals and loads from them, what
/// escapes, what a scope owns — is the runtime's (`HandleRuntime`, `--runtime`): `biased`
/// (default) takes CPython 3.13t's own steps, `atomic` one atomic count. The scheme is generic
/// over the runtime, so each composition is specialised.
///
/// Handles (objects are at least 8-byte aligned, so bit 0 of an address is free for a tag):
///
///     index << 1 | 1   local handle: entry `index` of the thread's arena holds the object
///     address          non-local reference: one shared reference to the object
///
/// Invariants:
/// - The arena (a word stack; its `count`, called `top` below, is the next free entry), the
///   owned list and the scope marks belong to one thread; nothing in
///   them is atomic and no other thread reads them.
/// - A local handle owns nothing. Inside a scope, `open` and `dup` store the object's address
///   at `arena[top]` and bump `top`; `close` of a local handle does nothing. The object is kept
///   alive for the scope by a reference that outlives it: the caller's (the scope's arguments;
///   here the thread's non-local references) or the scope's own (below).
/// - An object made inside a scope (`new`) starts with count 1, held by that scope: its address
///   goes on the owned list, and the scope's exit gives that reference back (free at zero).
///   Until then no counter is touched.
/// - The runtime's count is the number of non-local references plus one for each scope that owns
///   the object. Outside any scope `new` makes the first non-local reference, `open` and `dup`
///   take another (the runtime's increment); closing one gives it back (the runtime's
///   decrement), and the runtime frees the object when its last reference ends, exactly once.
/// - `escape(_:)` takes one runtime reference and returns it as a non-local reference: what a
///   field store, a return or a send keeps of a local handle past its scope.
/// - `enterScope` records `top` and the owned list's length; `exitScope` releases the objects
///   owned since, and resets both. Every local handle made in the scope is dead after its exit.
/// - A non-local reference dropped inside a scope (`release` of a field's previous object, `close`
///   of a non-local handle) is given back only when the outermost scope exits: a local handle
///   may still name the object — loaded from a field the call then overwrote, or a dup of a
///   non-local handle the call then closed — and a local handle does not count. So nothing a
///   live local handle names is freed before the call returns. (Found by `refscale stress`: before, such a handle outlived its
///   object, and storing it into a field wrote to freed memory.)
/// - `limit` is the arena's capacity inside a scope and 0 outside one, so the single compare of
///   the `dup` fast path (`top < limit`) also sends a `dup` outside any scope to the slow path,
///   which takes a runtime reference; a full arena grows there too. Handles are indices, so
///   growing the arena (moving it) leaves every live handle valid.
/// - Handles to arguments are borrowed, but a handle to an object loaded from a field or a global
///   (`load(from:)`) takes a runtime reference, read as the runtime reads such a slot (`biased`:
///   `_Py_TryIncrefCompare`), owned by its scope: nothing else keeps that object alive, and
///   another thread may replace the slot meanwhile. (Before, such an open took none, and
///   a replacement by another thread freed the object under the live handle.)
/// - Immortal objects are never counted and never owned.
/// - A scope's exit gives each object it owns back through the runtime
///   (`HandleRuntime.decrement(_:references:)`): under `biased` the owner's plain decrement, which
///   frees a never-escaped object with no atomic as CPython does; under `atomic` an object whose
///   count is 1 never escaped, no other thread can reach it, and it is freed with no atomic
///   read-modify-write (a choice of that runtime's model).
/// - The runtime's eval-breaker check comes where `biased` makes it: at every call's entry and
///   at every safe point.
/// - With `--nan-boxing on`, ints and doubles are immediates (`NaNBoxing`): handles at or above
///   2^48, which no arena index or address reaches. `dup` returns one, `close` and scope exit do
///   nothing to it, `read` decodes it; it is never allocated, owned or counted. An immediate is
///   never stored, sent or returned (the `numeric` workload does none of these).
/// `arena` on CPython 3.13t's counting, the default (`--runtime biased`).
public typealias ArenaScheme = Arena<BiasedRuntime>

public struct Arena<Runtime: HandleRuntime>: CountingScheme {
    public static var name: String { "arena" }
    public static var summary: String {
        "the seed's call-scoped arena: arena indices, borrowed args, bulk reset at scope exit, on CPython's counting (--runtime)"
    }
    public static var reportedCounters: Set<CounterKind> { [.atomicRMW, .casRetries, .merges, .queued, .frees] }
    public static var isThreadSafe: Bool { true }
    public static var declaredOptions: [OptionDeclaration] { [RuntimeChoice.option.declaration, NaNBoxing.option.declaration] }

    /// Bit 0 of a handle: set for a local handle (an arena index), clear for a non-local one.
    static var localTag: UInt64 { 1 }
    /// Entries of a new thread's arena; it doubles when full.
    static var initialArenaCapacity: Int { 1024 }

    public final class Shared {
        let options: SchemeOptions
        let runtime: Runtime.Shared
        init(options: SchemeOptions, runtime: Runtime.Shared) {
            self.options = options
            self.runtime = runtime
        }
    }

    /// Entry `i` is the address of the object local handle `i` names.
    var arena: WordStack
    /// The arena's capacity inside a scope, 0 outside one.
    var limit = 0
    /// Objects made in the open scopes, released at their scope's exit.
    var owned: WordStack
    /// Two words per open scope, innermost last: `top` and `owned.count` at its entry.
    var scopeMarks: WordStack
    /// Non-local references dropped inside a scope, given back when the outermost scope exits.
    var deferred: WordStack
    let nanBoxing: Bool
    var runtime: Runtime
    public var counters: SchemeCounters { runtime.counters }

    public static func makeShared(options: SchemeOptions, threads: Int) -> Shared {
        Shared(options: options, runtime: Runtime.makeShared(options: options, threads: threads))
    }

    public init(shared: Shared, threadID: Int) {
        nanBoxing = shared.options[NaNBoxing.option] == .on
        runtime = Runtime(shared: shared.runtime, threadID: threadID)
        arena = WordStack(capacity: Self.initialArenaCapacity)
        owned = WordStack(capacity: 256)
        scopeMarks = WordStack(capacity: 32)
        deferred = WordStack(capacity: 64)
    }

    var isInScope: Bool { scopeMarks.count > 0 }

    /// The address of the object a handle names.
    @inline(__always)
    func address(of handle: Handle) -> UInt {
        handle.bits & Self.localTag != 0 ? arena[Int(truncatingIfNeeded: handle.bits >> 1)] : UInt(handle.bits)
    }

    @inline(__always)
    public func object(of handle: Handle) -> ObjectRef {
        ObjectRef(address: UnsafeMutableRawPointer(bitPattern: address(of: handle))!)
    }

    /// A new local handle naming `address`: one store and one add. The caller has checked
    /// `top < limit`.
    @inline(__always)
    mutating func pushLocal(_ address: UInt) -> Handle {
        arena.base[arena.count] = address
        let handle = Handle(bits: UInt64(truncatingIfNeeded: arena.count) << 1 | Self.localTag)
        arena.count &+= 1
        return handle
    }

    /// The runtime's first reference (which may make the object immortal): the scope's, or
    /// outside any scope the handle's.
    public mutating func new(_ object: ObjectRef) -> Handle {
        runtime.new(object)
        guard isInScope else { return Handle(object) }
        if !object.isImmortal { owned.push(UInt(bitPattern: object.address)) }
        return local(UInt(bitPattern: object.address))
    }

    public mutating func open(_ object: ObjectRef) -> Handle {
        let address = UInt(bitPattern: object.address)
        if _fastPath(arena.count < limit) { return pushLocal(address) }
        return outOfLine(address)
    }

    /// An object read from a field or a global is not borrowed: no caller keeps it alive, and
    /// another thread may replace the slot and drop the slot's reference while the handle lives.
    /// The runtime reads the slot and takes a reference; inside a scope the scope owns it (given
    /// back at its exit, like an object the scope made); outside, the handle is that reference.
    public mutating func load(from slot: UnsafeMutablePointer<UInt>) -> Handle {
        adopt(runtime.load(from: slot))
    }

    @inline(__always)
    public mutating func immediate(_ number: Number) -> Handle { nanBoxing ? NaNBoxing.immediate(number) : .null }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        if NaNBoxing.isImmediate(handle) { return handle }
        let address = address(of: handle)
        if _fastPath(arena.count < limit) { return pushLocal(address) }
        return outOfLine(address)
    }

    /// `open` or `dup` that missed the fast path: inside a scope the arena is full and grows;
    /// outside any scope the new handle is a non-local reference and takes a runtime reference.
    @inline(never)
    mutating func outOfLine(_ address: UInt) -> Handle {
        if isInScope { return local(address) }
        let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: address)!)
        if !object.isImmortal { runtime.increment(object) }
        return Handle(object)
    }

    /// A new local handle, growing the arena first if it is full.
    mutating func local(_ address: UInt) -> Handle {
        if arena.count == arena.capacity {
            arena.grow()
            limit = arena.capacity
        }
        return pushLocal(address)
    }

    @inline(__always)
    public mutating func close(_ handle: Handle) {
        if handle.bits & Self.localTag != 0 || NaNBoxing.isImmediate(handle) { return }
        drop(ObjectRef(handle))
    }

    /// Gives back a non-local reference: at once outside any scope, at the outermost scope's
    /// exit inside one.
    @inline(__always)
    mutating func drop(_ object: ObjectRef) {
        if object.isImmortal { return }
        if !isInScope {
            runtime.decrement(object)
        } else {
            deferred.push(UInt(bitPattern: object.address))
        }
    }

    @inline(__always)
    public func read(_ handle: Handle) -> UInt64 {
        NaNBoxing.isImmediate(handle) ? NaNBoxing.value(of: handle) : object(of: handle).payload
    }

    /// Converts a handle into a non-local reference, taking one runtime reference: what a
    /// return or a send keeps of an object past the scope. Closing the result gives the
    /// reference back.
    mutating func escape(_ handle: Handle) -> Handle {
        let object = object(of: handle)
        if !object.isImmortal { runtime.increment(object) }
        return Handle(object)
    }

    /// A reference kept in a field or global, or the interpreter's own: the runtime's store.
    public mutating func retain(_ object: ObjectRef) {
        if !object.isImmortal { runtime.store(object) }
    }

    public mutating func release(_ object: ObjectRef) { drop(object) }

    /// A local handle takes a runtime reference; a non-local one is a runtime reference and moves.
    public mutating func transfer(_ handle: Handle) -> ObjectRef {
        let object = object(of: handle)
        if handle.bits & Self.localTag != 0 && !object.isImmortal { runtime.increment(object) }
        return object
    }

    /// Inside a scope the scope takes the reference over (it ends at the scope's exit), so the
    /// object lives as long as the local handle; outside, the reference is the handle.
    public mutating func adopt(_ object: ObjectRef) -> Handle {
        guard isInScope else { return Handle(object) }
        if !object.isImmortal { owned.push(UInt(bitPattern: object.address)) }
        return local(UInt(bitPattern: object.address))
    }

    /// A returned handle outlives the scope: it escapes.
    public mutating func returning(_ handle: Handle) -> Handle {
        handle.bits & Self.localTag != 0 ? escape(handle) : handle
    }

    /// The runtime's check on entering the calling function, then the scope's marks.
    public mutating func enterScope() {
        runtime.enterScope()
        scopeMarks.push(UInt(arena.count))
        scopeMarks.push(UInt(owned.count))
        limit = arena.capacity
    }

    /// Gives the scope's own objects back to the runtime and resets the arena to the scope's
    /// entry; the outermost scope also gives back the references dropped inside it.
    public mutating func exitScope() {
        precondition(scopeMarks.count >= 2, "arena: exitScope without a matching enterScope")
        let ownedMark = Int(scopeMarks.pop())
        arena.count = Int(scopeMarks.pop())
        for index in ownedMark..<owned.count {
            runtime.decrement(ObjectRef(address: UnsafeMutableRawPointer(bitPattern: owned[index])!), references: 1)
        }
        owned.count = ownedMark
        if !isInScope {
            limit = 0
            for index in 0..<deferred.count {
                runtime.decrement(ObjectRef(address: UnsafeMutableRawPointer(bitPattern: deferred[index])!))
            }
            deferred.count = 0
        }
    }

    public mutating func safePoint() { runtime.safePoint() }

    /// Closes the scopes still open (their objects are released), frees the thread's memory and
    /// lets the runtime finish.
    public mutating func threadExit() {
        while isInScope { exitScope() }
        arena.deallocate()
        owned.deallocate()
        scopeMarks.deallocate()
        deferred.deallocate()
        runtime.threadExit()
    }

    public static func referenceCount(of object: ObjectRef) -> Int? { Runtime.referenceCount(of: object) }
}

extension Arena: UniversalScheme {
    /// The table of this composition: a table's entries are C function pointers, which a generic
    /// type cannot form, so each composition's table is written out where its type is concrete.
    public static var universalTable: UniversalTable {
        switch Runtime.choice {
        case .biased: ArenaUniversalTables.biased
        case .atomic: ArenaUniversalTables.atomic
        }
    }
}

enum ArenaUniversalTables {
    static let biased = UniversalTable(
        new: { UniversalEntries<Arena<BiasedRuntime>>.new($0, $1) }, open: { UniversalEntries<Arena<BiasedRuntime>>.open($0, $1) }, load: { UniversalEntries<Arena<BiasedRuntime>>.load($0, $1) },
        dup: { UniversalEntries<Arena<BiasedRuntime>>.dup($0, $1) }, close: { UniversalEntries<Arena<BiasedRuntime>>.close($0, $1) }, read: { UniversalEntries<Arena<BiasedRuntime>>.read($0, $1) },
        object: { UniversalEntries<Arena<BiasedRuntime>>.object($0, $1) }, retain: { UniversalEntries<Arena<BiasedRuntime>>.retain($0, $1) }, release: { UniversalEntries<Arena<BiasedRuntime>>.release($0, $1) },
        transfer: { UniversalEntries<Arena<BiasedRuntime>>.transfer($0, $1) }, adopt: { UniversalEntries<Arena<BiasedRuntime>>.adopt($0, $1) }, returning: { UniversalEntries<Arena<BiasedRuntime>>.returning($0, $1) },
        enterScope: { UniversalEntries<Arena<BiasedRuntime>>.enterScope($0, $1) }, exitScope: { UniversalEntries<Arena<BiasedRuntime>>.exitScope($0, $1) }, immediate: { UniversalEntries<Arena<BiasedRuntime>>.immediate($0, $1) })
    static let atomic = UniversalTable(
        new: { UniversalEntries<Arena<AtomicRuntime>>.new($0, $1) }, open: { UniversalEntries<Arena<AtomicRuntime>>.open($0, $1) }, load: { UniversalEntries<Arena<AtomicRuntime>>.load($0, $1) },
        dup: { UniversalEntries<Arena<AtomicRuntime>>.dup($0, $1) }, close: { UniversalEntries<Arena<AtomicRuntime>>.close($0, $1) }, read: { UniversalEntries<Arena<AtomicRuntime>>.read($0, $1) },
        object: { UniversalEntries<Arena<AtomicRuntime>>.object($0, $1) }, retain: { UniversalEntries<Arena<AtomicRuntime>>.retain($0, $1) }, release: { UniversalEntries<Arena<AtomicRuntime>>.release($0, $1) },
        transfer: { UniversalEntries<Arena<AtomicRuntime>>.transfer($0, $1) }, adopt: { UniversalEntries<Arena<AtomicRuntime>>.adopt($0, $1) }, returning: { UniversalEntries<Arena<AtomicRuntime>>.returning($0, $1) },
        enterScope: { UniversalEntries<Arena<AtomicRuntime>>.enterScope($0, $1) }, exitScope: { UniversalEntries<Arena<AtomicRuntime>>.exitScope($0, $1) }, immediate: { UniversalEntries<Arena<AtomicRuntime>>.immediate($0, $1) })
}

/// A stack of words in raw memory owned by one thread; it doubles when full.
struct WordStack {
    private(set) var base: UnsafeMutablePointer<UInt>
    private(set) var capacity: Int
    var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    @inline(__always)
    subscript(index: Int) -> UInt { base[index] }

    @inline(__always)
    mutating func push(_ word: UInt) {
        if count == capacity { grow() }
        base[count] = word
        count += 1
    }

    @inline(__always)
    mutating func pop() -> UInt {
        count -= 1
        return base[count]
    }

    @inline(never)
    mutating func grow() {
        let grown = UnsafeMutablePointer<UInt>.allocate(capacity: capacity * 2)
        grown.moveInitialize(from: base, count: count)
        base.deallocate()
        base = grown
        capacity *= 2
    }

    func deallocate() { base.deallocate() }
}
