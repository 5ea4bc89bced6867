/// The universal ABI's function table: HPy's `HPyContext` with its `ctx_Dup`, `ctx_Close`, ...
/// members. Every entry takes the thread's state (what the context carries: the scheme's table,
/// arena or queue) and one word — a handle's bits or an object's address — and returns one word
/// (0 when the operation returns nothing). Each thread copies the table into its own block once
/// (`UniversalContext.init`), so a call is a load from the thread's memory and an indirect call.
///
/// The stream operations go through the table; the runtime's own hooks (`safePoint`, `suspend`,
/// `threadExit`, the counters) do not: an extension never calls them, the harness does.
public struct UniversalTable {
    public typealias Entry = @convention(c) (UnsafeMutableRawPointer, UInt64) -> UInt64

    var new: Entry
    var open: Entry
    var load: Entry
    var dup: Entry
    var close: Entry
    var read: Entry
    var object: Entry
    var retain: Entry
    var release: Entry
    var transfer: Entry
    var adopt: Entry
    var returning: Entry
    var enterScope: Entry
    var exitScope: Entry
    /// `HPyLong_FromLong` and kin, for the schemes that tag immediates; the word is a `Number`'s
    /// and the result a handle's bits, 0 for a number the scheme boxes. A scheme that tags names
    /// it in its table; every other boxes every number.
    var immediate: Entry = { _, _ in 0 }
    /// A handle that extension code left open where it had to close it (a module's exec slots),
    /// which the run closes on the code's behalf: 1 when the context closed it itself (the debug
    /// context, which reports it as a leak of the module's without counting it against the run),
    /// 0 when it did nothing and the caller closes the handle with `close`.
    var disown: Entry = { _, _ in 0 }
}

/// A scheme that can be called through the universal table, and so run under every context.
///
/// Every scheme file ends with the same block, its conformance:
///
///     extension SomeScheme: UniversalScheme {
///         public static let universalTable = UniversalTable(
///             new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, ...)
///     }
///
/// It cannot be written once. Swift forms a C function pointer (`@convention(c)`) only from a
/// closure whose body names concrete types; a closure in generic code (a protocol extension, or
/// `UniversalContext<S>`) refers to its generic parameter and is rejected. Swift closures
/// instead of C pointers would be built once, but each call would load a context word and may
/// retain it, which is what the table must not cost. So each scheme names its own concrete type
/// in the block, and what every entry does is written once, in `UniversalEntries`.
public protocol UniversalScheme: CountingScheme {
    static var universalTable: UniversalTable { get }
}

extension UniversalScheme {
    typealias Entries = UniversalEntries<Self>
}

/// What each entry of a scheme's universal table does: turn the words back into a handle or an
/// object, and call the scheme, specialised for `S`, on the state the entry is given.
enum UniversalEntries<S: CountingScheme> {
    @inline(__always)
    static func scheme(_ state: UnsafeMutableRawPointer) -> UnsafeMutablePointer<S> {
        state.assumingMemoryBound(to: S.self)
    }

    @inline(__always)
    static func new(_ state: UnsafeMutableRawPointer, _ object: UInt64) -> UInt64 {
        scheme(state).pointee.new(ObjectRef(word: object)).bits
    }

    @inline(__always)
    static func open(_ state: UnsafeMutableRawPointer, _ object: UInt64) -> UInt64 {
        scheme(state).pointee.open(ObjectRef(word: object)).bits
    }

    @inline(__always)
    /// `slot` is the address of the field or global loaded from.
    static func load(_ state: UnsafeMutableRawPointer, _ slot: UInt64) -> UInt64 {
        scheme(state).pointee.load(from: UnsafeMutablePointer(bitPattern: UInt(slot))!).bits
    }

    @inline(__always)
    static func dup(_ state: UnsafeMutableRawPointer, _ handle: UInt64) -> UInt64 {
        scheme(state).pointee.dup(Handle(bits: handle)).bits
    }

    @inline(__always)
    static func close(_ state: UnsafeMutableRawPointer, _ handle: UInt64) -> UInt64 {
        scheme(state).pointee.close(Handle(bits: handle))
        return 0
    }

    @inline(__always)
    static func read(_ state: UnsafeMutableRawPointer, _ handle: UInt64) -> UInt64 {
        scheme(state).pointee.read(Handle(bits: handle))
    }

    @inline(__always)
    static func object(_ state: UnsafeMutableRawPointer, _ handle: UInt64) -> UInt64 {
        scheme(state).pointee.object(of: Handle(bits: handle)).word
    }

    @inline(__always)
    static func retain(_ state: UnsafeMutableRawPointer, _ object: UInt64) -> UInt64 {
        scheme(state).pointee.retain(ObjectRef(word: object))
        return 0
    }

    @inline(__always)
    static func release(_ state: UnsafeMutableRawPointer, _ object: UInt64) -> UInt64 {
        scheme(state).pointee.release(ObjectRef(word: object))
        return 0
    }

    @inline(__always)
    static func transfer(_ state: UnsafeMutableRawPointer, _ handle: UInt64) -> UInt64 {
        scheme(state).pointee.transfer(Handle(bits: handle)).word
    }

    @inline(__always)
    static func adopt(_ state: UnsafeMutableRawPointer, _ object: UInt64) -> UInt64 {
        scheme(state).pointee.adopt(ObjectRef(word: object)).bits
    }

    @inline(__always)
    static func returning(_ state: UnsafeMutableRawPointer, _ handle: UInt64) -> UInt64 {
        scheme(state).pointee.returning(Handle(bits: handle)).bits
    }

    @inline(__always)
    static func enterScope(_ state: UnsafeMutableRawPointer, _: UInt64) -> UInt64 {
        scheme(state).pointee.enterScope()
        return 0
    }

    @inline(__always)
    static func exitScope(_ state: UnsafeMutableRawPointer, _: UInt64) -> UInt64 {
        scheme(state).pointee.exitScope()
        return 0
    }

    @inline(__always)
    static func immediate(_ state: UnsafeMutableRawPointer, _ number: UInt64) -> UInt64 {
        scheme(state).pointee.immediate(Number(word: number)).bits
    }
}

/// A thread's way into a table: the table and the state every entry takes first. Two raw
/// pointers, so a context that holds one holds no class reference and no Swift reference count.
public struct TableCaller {
    let table: UnsafeMutablePointer<UniversalTable>
    let state: UnsafeMutableRawPointer

    @inline(__always) func new(_ object: ObjectRef) -> Handle { Handle(bits: table.pointee.new(state, object.word)) }
    @inline(__always) func open(_ object: ObjectRef) -> Handle { Handle(bits: table.pointee.open(state, object.word)) }
    @inline(__always) func load(from slot: UnsafeMutablePointer<UInt>) -> Handle {
        Handle(bits: table.pointee.load(state, UInt64(UInt(bitPattern: slot))))
    }
    @inline(__always) func dup(_ handle: Handle) -> Handle { Handle(bits: table.pointee.dup(state, handle.bits)) }
    @inline(__always) func close(_ handle: Handle) { _ = table.pointee.close(state, handle.bits) }
    @inline(__always) func read(_ handle: Handle) -> UInt64 { table.pointee.read(state, handle.bits) }
    @inline(__always) func object(of handle: Handle) -> ObjectRef { ObjectRef(word: table.pointee.object(state, handle.bits)) }
    @inline(__always) func retain(_ object: ObjectRef) { _ = table.pointee.retain(state, object.word) }
    @inline(__always) func release(_ object: ObjectRef) { _ = table.pointee.release(state, object.word) }
    @inline(__always) func transfer(_ handle: Handle) -> ObjectRef { ObjectRef(word: table.pointee.transfer(state, handle.bits)) }
    @inline(__always) func adopt(_ object: ObjectRef) -> Handle { Handle(bits: table.pointee.adopt(state, object.word)) }
    @inline(__always) func returning(_ handle: Handle) -> Handle { Handle(bits: table.pointee.returning(state, handle.bits)) }
    @inline(__always) func enterScope() { _ = table.pointee.enterScope(state, 0) }
    @inline(__always) func exitScope() { _ = table.pointee.exitScope(state, 0) }
    @inline(__always) func immediate(_ number: Number) -> Handle { Handle(bits: table.pointee.immediate(state, number.word)) }
    /// Closes a handle extension code left open, on the code's behalf (`UniversalTable.disown`).
    func closeOnBehalf(_ handle: Handle) {
        if table.pointee.disown(state, handle.bits) == 0 { close(handle) }
    }
}

extension ObjectRef {
    /// The object at an address passed as a word through a table entry. The word is never 0 (the
    /// kernel passes live objects only), so it is converted without the null check an unwrap
    /// would compile to, which `direct` never pays (`unsafelyUnwrapped` kept it in -O builds).
    @inline(__always)
    init(word: UInt64) { self.init(address: unsafeBitCast(UInt(truncatingIfNeeded: word), to: UnsafeMutableRawPointer.self)) }

    /// The object's address as a word.
    @inline(__always)
    var word: UInt64 { UInt64(UInt(bitPattern: address)) }
}

/// A context that reaches scheme `Inner` through a table (`UniversalContext`, `DebugContext`):
/// every stream operation is one call through `caller`, and what the context says of itself is
/// `Inner`'s. Written here once for both.
public protocol TableContext: CountingScheme {
    associatedtype Inner: UniversalScheme
    var caller: TableCaller { get }
}

extension TableContext {
    public static var name: String { Inner.name }
    public static var summary: String { Inner.summary }
    public static var reportedCounters: Set<CounterKind> { Inner.reportedCounters }
    public static var isThreadSafe: Bool { Inner.isThreadSafe }
    public static var declaredOptions: [OptionDeclaration] { Inner.declaredOptions }
    public static var pythonVersion: String? { Inner.pythonVersion }
    public static var callsThroughTable: Bool { true }
    public static func referenceCount(of object: ObjectRef) -> Int? { Inner.referenceCount(of: object) }

    @inline(__always) public mutating func new(_ object: ObjectRef) -> Handle { caller.new(object) }
    @inline(__always) public mutating func open(_ object: ObjectRef) -> Handle { caller.open(object) }
    @inline(__always) public mutating func load(from slot: UnsafeMutablePointer<UInt>) -> Handle { caller.load(from: slot) }
    @inline(__always) public mutating func dup(_ handle: Handle) -> Handle { caller.dup(handle) }
    @inline(__always) public mutating func close(_ handle: Handle) { caller.close(handle) }
    @inline(__always) public func read(_ handle: Handle) -> UInt64 { caller.read(handle) }
    @inline(__always) public func object(of handle: Handle) -> ObjectRef { caller.object(of: handle) }
    @inline(__always) public mutating func retain(_ object: ObjectRef) { caller.retain(object) }
    @inline(__always) public mutating func release(_ object: ObjectRef) { caller.release(object) }
    @inline(__always) public mutating func transfer(_ handle: Handle) -> ObjectRef { caller.transfer(handle) }
    @inline(__always) public mutating func adopt(_ object: ObjectRef) -> Handle { caller.adopt(object) }
    @inline(__always) public mutating func returning(_ handle: Handle) -> Handle { caller.returning(handle) }
    @inline(__always) public mutating func enterScope() { caller.enterScope() }
    @inline(__always) public mutating func exitScope() { caller.exitScope() }
    @inline(__always) public mutating func immediate(_ number: Number) -> Handle { caller.immediate(number) }
    public mutating func withTableCaller<Result>(_ body: (TableCaller) -> Result) -> Result { body(caller) }
}
