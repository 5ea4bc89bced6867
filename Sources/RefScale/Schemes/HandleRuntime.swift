import Synchronization

/// The runtime under a handle design (`--runtime`): what counts every reference that is not a
/// local handle. The seed's proposal is "a possible approach for CPython": its local handles
/// index a thread-local table, and everything else stays CPython's business — the interpreter's
/// own references (a trace's interpreter events), fields and globals, loads from them, the
/// references a table slot or an arena scope holds on the thread's behalf. `handle-local` and
/// `arena` are generic over this protocol, so each composition is specialised at compile time
/// and the hot loop calls the runtime's steps directly.
///
/// - `biased` (`BiasedRuntime`, the default): CPython 3.13t's own steps, those of the `biased`
///   scheme on CPython's header (`BiasedScheme`, `BiasedCounting`, `BiasedMergeQueue`): the
///   owner's increments and decrements plain, a non-owner's atomic, the merge queue, the
///   eval-breaker check where `biased` makes it.
/// - `atomic` (`AtomicRuntime`): one atomic count per object, as `atomic`; the figures the
///   handle schemes gave before the runtime could be chosen.
///
/// Invariants every runtime keeps:
/// - A reference the runtime counts is ended by the runtime, exactly once; an object is freed by
///   the runtime's step that ends its last reference, and by nothing else.
/// - Immortal objects are never counted: callers skip them (`ObjectRef.isImmortal`), and the
///   runtime's `new` is where an object becomes immortal if the runtime makes it so.
public protocol HandleRuntime {
    associatedtype Shared: AnyObject
    static var choice: RuntimeChoice { get }

    static func makeShared(options: SchemeOptions, threads: Int) -> Shared
    init(shared: Shared, threadID: Int)

    var counters: SchemeCounters { get }

    /// The newborn's first reference, held by this thread (`_Py_NewReference`).
    mutating func new(_ object: ObjectRef)
    /// A new reference to a mortal object this thread can reach (`Py_INCREF`).
    mutating func increment(_ object: ObjectRef)
    /// Ends one reference to a mortal object (`Py_DECREF`).
    mutating func decrement(_ object: ObjectRef)
    /// Ends `references` references that this thread holds together (a table slot's).
    mutating func decrement(_ object: ObjectRef, references: Int)
    /// A reference kept in a field or global, or one of the interpreter's own (`retain`).
    mutating func store(_ object: ObjectRef)
    /// What `store` does besides counting, for a reference that was already counted (one the
    /// thread had parked) and now goes into a field or global: exactly that, nothing more.
    mutating func noteStored(_ object: ObjectRef)
    /// A reference to the object a field or global holds, read as the runtime reads such slots.
    mutating func load(from slot: UnsafeMutablePointer<UInt>) -> ObjectRef
    /// The interpreter's check at the start of a call, and at a safe point.
    mutating func enterScope()
    mutating func safePoint()
    mutating func threadExit()

    static func referenceCount(of object: ObjectRef) -> Int?
}

/// The values of `--runtime`.
public enum RuntimeChoice: String, CaseIterable, Sendable, OptionValueConvertible {
    case biased
    case atomic

    /// `--runtime`, declared once for every scheme composed over a runtime (`handle-local`, `arena`).
    public static let option = DeclaredOption<RuntimeChoice>(
        "runtime", default: .biased,
        help: "handle-local, arena: what counts every reference that is not a local handle (biased: CPython 3.13t's steps; atomic: one atomic count)")
}

/// CPython 3.13t under the handle design: every step is the `biased` scheme's own, on the same
/// header, through a `BiasedScheme` context held inside (as `perthread` holds one).
///
/// The schemes composed over it (`handle-local`, `arena`) do not declare `--weakref-share`, so
/// it runs at share 0 whatever the options carry (an experiment file's `scheme_options` reach
/// every scheme it names): a store is `Py_INCREF` alone and sets no MAYBE_WEAKREF, as a plain
/// store in 3.13 does.
public struct BiasedRuntime: HandleRuntime {
    public static let choice = RuntimeChoice.biased
    var biased: BiasedScheme

    public static func makeShared(options: SchemeOptions, threads: Int) -> BiasedScheme.Shared {
        var options = options
        options[BiasedScheme.weakrefShare] = 0
        return BiasedScheme.makeShared(options: options, threads: threads)
    }

    public init(shared: BiasedScheme.Shared, threadID: Int) { biased = BiasedScheme(shared: shared, threadID: threadID) }

    public var counters: SchemeCounters { biased.counters }

    /// `BiasedScheme.new`: the type reference of an instance, then the owner's local 1 (or
    /// immortality, for what 3.13 makes immortal).
    @inline(__always)
    public mutating func new(_ object: ObjectRef) { _ = biased.new(object) }

    @inline(__always)
    public mutating func increment(_ object: ObjectRef) { _ = biased.open(object) }

    @inline(__always)
    public mutating func decrement(_ object: ObjectRef) { biased.close(Handle(object)) }

    /// One `Py_DECREF` per reference: CPython has no step that drops several at once.
    public mutating func decrement(_ object: ObjectRef, references: Int) {
        for _ in 0..<references { biased.close(Handle(object)) }
    }

    /// `BiasedScheme.retain`: `Py_INCREF` (and, were the share above 0, a weak reference for
    /// its share of the stores).
    @inline(__always)
    public mutating func store(_ object: ObjectRef) { biased.retain(object) }

    /// `BiasedScheme.noteStored`: what `retain` does besides `Py_INCREF`; at share 0, nothing.
    @inline(__always)
    public mutating func noteStored(_ object: ObjectRef) { biased.noteStored(object) }

    /// `BiasedScheme.load`: `_Py_TryIncrefCompare`, or the locked path when it refuses.
    @inline(__always)
    public mutating func load(from slot: UnsafeMutablePointer<UInt>) -> ObjectRef { ObjectRef(biased.load(from: slot)) }

    @inline(__always)
    public mutating func enterScope() { biased.enterScope() }
    public mutating func safePoint() { biased.safePoint() }
    public mutating func threadExit() { biased.threadExit() }

    public static func referenceCount(of object: ObjectRef) -> Int? { BiasedScheme.referenceCount(of: object) }
}

/// One atomic count per object (`atomic`'s steps): relaxed increment, acquire-release decrement,
/// free at 0.
public struct AtomicRuntime: HandleRuntime {
    public static let choice = RuntimeChoice.atomic
    public var counters = SchemeCounters()

    public static func makeShared(options: SchemeOptions, threads: Int) -> NoSharedState { NoSharedState(options: options) }
    public init(shared: NoSharedState, threadID: Int) {}

    @inline(__always)
    public mutating func new(_ object: ObjectRef) { object.count.pointee.store(1, ordering: .relaxed) }

    @inline(__always)
    public mutating func increment(_ object: ObjectRef) {
        object.count.pointee.wrappingAdd(1, ordering: .relaxed)
        counters.atomicRMW &+= 1
    }

    @inline(__always)
    public mutating func decrement(_ object: ObjectRef) {
        counters.atomicRMW &+= 1
        if object.count.pointee.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue == 1 {
            ObjectPool.free(object)
            counters.frees &+= 1
        }
    }

    /// When the count equals `references`, every reference is this thread's: no other thread can
    /// reach the object (reaching it takes a reference), and it is freed with no atomic
    /// read-modify-write (a choice of this model). Otherwise one atomic subtraction.
    public mutating func decrement(_ object: ObjectRef, references: Int) {
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
    public mutating func store(_ object: ObjectRef) { increment(object) }
    public mutating func noteStored(_ object: ObjectRef) {}

    @inline(__always)
    public mutating func load(from slot: UnsafeMutablePointer<UInt>) -> ObjectRef {
        let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: slot.pointee)!)
        if !object.isImmortal { increment(object) }
        return object
    }

    public mutating func enterScope() {}
    public mutating func safePoint() {}
    public mutating func threadExit() {}

    public static func referenceCount(of object: ObjectRef) -> Int? { object.count.pointee.load(ordering: .relaxed) }
}
