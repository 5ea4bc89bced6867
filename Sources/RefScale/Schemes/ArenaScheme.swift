import Synchronization

/// `arena`: HPy's call-scoped local handles as PyPy and GraalPy build them. A handle made inside
/// a scope (one simulated extension call) is an index into the thread's handle arena, an array
/// of object addresses that is bump-allocated and reset in bulk when the scope exits.
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
/// - `count` is the number of non-local references plus one for each scope that owns the
///   object. Outside any scope `new` makes the first non-local reference, `open` and `dup` take
///   another (relaxed atomic increment); closing one gives it back (acquire-release decrement),
///   and the decrement that reaches 0 frees the object, exactly once.
/// - `escape(_:)` takes one shared reference and returns it as a non-local reference: what a
///   field store, a return or a send keeps of a local handle past its scope.
/// - `enterScope` records `top` and the owned list's length; `exitScope` releases the objects
///   owned since, and resets both. Every local handle made in the scope is dead after its exit.
/// - A non-local reference dropped inside a scope (`release` of a field's previous object, `close`
///   of a non-local handle) is given back only when the outermost scope exits: a local handle
///   may still name the object — loaded from a field the call then overwrote, or a dup of a
///   non-local handle the call then closed — and a local handle does not count. So nothing a
///   live local handle names is freed, as PyPy's and GraalPy's handles keep their objects alive
///   until the call returns. (Found by `refscale stress`: before, such a handle outlived its
///   object, and storing it into a field wrote to freed memory.)
/// - `limit` is the arena's capacity inside a scope and 0 outside one, so the single compare of
///   the `dup` fast path (`top < limit`) also sends a `dup` outside any scope to the slow path,
///   which takes a shared reference; a full arena grows there too. Handles are indices, so
///   growing the arena (moving it) leaves every live handle valid.
/// - Handles to arguments are borrowed, but a handle to an object loaded from a field or a global
///   (`load(from:)`) takes a shared reference owned by its scope: nothing else keeps that object
///   alive, and another thread may replace the slot meanwhile. (Before, such an open took none, and
///   a replacement by another thread freed the object under the live handle.)
/// - Immortal objects are never counted and never owned.
/// - With `--nan-boxing on`, ints and doubles are immediates (`NaNBoxing`): handles at or above
///   2^48, which no arena index or address reaches. `dup` returns one, `close` and scope exit do
///   nothing to it, `read` decodes it; it is never allocated, owned or counted. An immediate is
///   never stored, sent or returned (the `numeric` workload does none of these).
public struct ArenaScheme: CountingScheme {
    public static let name = "arena"
    public static let summary = "HPy call-scoped handles (PyPy, GraalPy): arena indices, borrowed args, bulk reset at scope exit"
    public static let reportedCounters: Set<CounterKind> = [.atomicRMW, .frees]
    public static let isThreadSafe = true
    public static let declaredOptions = [NaNBoxing.option.declaration]

    /// Bit 0 of a handle: set for a local handle (an arena index), clear for a non-local one.
    static let localTag: UInt64 = 1
    /// Entries of a new thread's arena; it doubles when full.
    static let initialArenaCapacity = 1024

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
    public var counters = SchemeCounters()

    public static func makeShared(options: SchemeOptions, threads: Int) -> NoSharedState { NoSharedState(options: options) }

    public init(shared: NoSharedState, threadID: Int) {
        nanBoxing = shared.options[NaNBoxing.option] == .on
        arena = WordStack(capacity: ArenaScheme.initialArenaCapacity)
        owned = WordStack(capacity: 256)
        scopeMarks = WordStack(capacity: 32)
        deferred = WordStack(capacity: 64)
    }

    var isInScope: Bool { scopeMarks.count > 0 }

    /// The address of the object a handle names.
    @inline(__always)
    func address(of handle: Handle) -> UInt {
        handle.bits & ArenaScheme.localTag != 0 ? arena[Int(truncatingIfNeeded: handle.bits >> 1)] : UInt(handle.bits)
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
        let handle = Handle(bits: UInt64(truncatingIfNeeded: arena.count) << 1 | ArenaScheme.localTag)
        arena.count &+= 1
        return handle
    }

    public mutating func new(_ object: ObjectRef) -> Handle {
        object.count.pointee.store(1, ordering: .relaxed)
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
    /// Inside a scope the handle takes a shared reference that the scope owns (given back at its
    /// exit, like an object the scope made); outside, the handle is that reference.
    public mutating func load(from slot: UnsafeMutablePointer<UInt>) -> Handle {
        let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: slot.pointee)!)
        retain(object)
        return adopt(object)
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
    /// outside any scope the new handle is a non-local reference and takes a shared reference.
    @inline(never)
    mutating func outOfLine(_ address: UInt) -> Handle {
        if isInScope { return local(address) }
        let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: address)!)
        if !object.isImmortal {
            object.count.pointee.wrappingAdd(1, ordering: .relaxed)
            counters.atomicRMW &+= 1
        }
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
        if handle.bits & ArenaScheme.localTag != 0 || NaNBoxing.isImmediate(handle) { return }
        drop(ObjectRef(handle))
    }

    /// Gives back a non-local reference: at once outside any scope, at the outermost scope's
    /// exit inside one.
    @inline(__always)
    mutating func drop(_ object: ObjectRef) {
        if !isInScope {
            releaseShared(object)
        } else if !object.isImmortal {
            deferred.push(UInt(bitPattern: object.address))
        }
    }

    @inline(__always)
    public func read(_ handle: Handle) -> UInt64 {
        NaNBoxing.isImmediate(handle) ? NaNBoxing.value(of: handle) : object(of: handle).payload
    }

    /// Gives back one shared reference; the one that reaches 0 frees the object.
    @inline(__always)
    mutating func releaseShared(_ object: ObjectRef) {
        if object.isImmortal { return }
        counters.atomicRMW &+= 1
        if object.count.pointee.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue == 1 {
            ObjectPool.free(object)
            counters.frees += 1
        }
    }

    /// Converts a handle into a non-local reference, taking one shared reference: what a field
    /// store, a return or a send keeps of an object past the scope. Closing the result gives the
    /// reference back.
    mutating func escape(_ handle: Handle) -> Handle {
        let object = object(of: handle)
        if !object.isImmortal {
            object.count.pointee.wrappingAdd(1, ordering: .relaxed)
            counters.atomicRMW &+= 1
        }
        return Handle(object)
    }

    /// A non-local reference is a shared reference.
    public mutating func retain(_ object: ObjectRef) {
        if !object.isImmortal {
            object.count.pointee.wrappingAdd(1, ordering: .relaxed)
            counters.atomicRMW &+= 1
        }
    }

    public mutating func release(_ object: ObjectRef) { drop(object) }

    /// A local handle takes a shared reference; a non-local one is a shared reference and moves.
    public mutating func transfer(_ handle: Handle) -> ObjectRef {
        let object = object(of: handle)
        if handle.bits & ArenaScheme.localTag != 0 { retain(object) }
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
        handle.bits & ArenaScheme.localTag != 0 ? escape(handle) : handle
    }

    public mutating func enterScope() {
        scopeMarks.push(UInt(arena.count))
        scopeMarks.push(UInt(owned.count))
        limit = arena.capacity
    }

    /// Releases the scope's own objects and resets the arena to the scope's entry. An owned
    /// object whose count is 1 never escaped: the scope holds its only reference, no other thread
    /// can reach it, and it is freed with no atomic read-modify-write.
    public mutating func exitScope() {
        precondition(scopeMarks.count >= 2, "arena: exitScope without a matching enterScope")
        let ownedMark = Int(scopeMarks.pop())
        arena.count = Int(scopeMarks.pop())
        for index in ownedMark..<owned.count {
            let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: owned[index])!)
            if object.count.pointee.load(ordering: .acquiring) == 1 {
                ObjectPool.free(object)
                counters.frees += 1
            } else {
                releaseShared(object)
            }
        }
        owned.count = ownedMark
        if !isInScope {
            limit = 0
            for index in 0..<deferred.count {
                releaseShared(ObjectRef(address: UnsafeMutableRawPointer(bitPattern: deferred[index])!))
            }
            deferred.count = 0
        }
    }

    public mutating func safePoint() {}

    /// Closes the scopes still open (their objects are released) and frees the thread's memory.
    public mutating func threadExit() {
        while isInScope { exitScope() }
        arena.deallocate()
        owned.deallocate()
        scopeMarks.deallocate()
        deferred.deallocate()
    }

    public static func referenceCount(of object: ObjectRef) -> Int? {
        object.count.pointee.load(ordering: .relaxed)
    }
}

extension ArenaScheme: UniversalScheme {
    public static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) }, immediate: { Entries.immediate($0, $1) })
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
