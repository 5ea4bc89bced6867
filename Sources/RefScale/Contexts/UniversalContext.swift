/// `universal`: scheme `S` behind a table of function pointers, as HPy's universal ABI puts an
/// implementation behind `HPyContext`. The extension (here the kernel) is compiled once and
/// calls every operation through the table; it never sees the scheme's code.
///
/// Invariants:
/// - Each thread builds its table once, in `init`: one block holds a copy of
///   `S.universalTable`, then the thread's scheme state. The context holds one raw pointer, to
///   the block, so an operation is one load of the entry from the thread's own memory and one
///   indirect call: no existential, no class reference, no Swift reference count.
/// - The entries are `S`'s own code, specialised for `S`; what this context adds over `direct`
///   is the call itself, and the inlining the call prevents.
/// - The runtime's hooks (`safePoint`, `settle`, `suspend`, `threadExit`, `counters`) call the scheme
///   directly: the harness calls them, never an extension.
/// - `threadExit` ends the scheme state and frees the block; the counters are kept, because the
///   harness reads them after.
public struct UniversalContext<S: UniversalScheme>: TableContext {
    public typealias Inner = S
    public typealias Shared = S.Shared

    public static func failure(of shared: Shared) -> String? { S.failure(of: shared) }

    /// The thread's block: the table, then the scheme state at `stateOffset`. One pointer, so the
    /// hot loop keeps one register for the context, not two.
    let block: UnsafeMutableRawPointer
    /// The scheme's counters once `threadExit` has freed its state.
    var exitedCounters: SchemeCounters?

    /// Where the scheme state starts in the block: after the table, aligned for `S`.
    static var stateOffset: Int {
        let alignment = MemoryLayout<S>.alignment
        return (MemoryLayout<UniversalTable>.stride + alignment - 1) / alignment * alignment
    }

    public static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared {
        try S.makeShared(options: options, threads: threads)
    }

    public init(shared: Shared, threadID: Int) {
        let block = UnsafeMutableRawPointer.allocate(
            byteCount: Self.stateOffset + MemoryLayout<S>.stride, alignment: max(128, MemoryLayout<S>.alignment))
        let table = block.bindMemory(to: UniversalTable.self, capacity: 1)
        table.initialize(to: S.universalTable)
        let state = (block + Self.stateOffset).bindMemory(to: S.self, capacity: 1)
        state.initialize(to: S(shared: shared, threadID: threadID))
        self.block = block
    }

    @inline(__always)
    public var caller: TableCaller {
        TableCaller(table: block.assumingMemoryBound(to: UniversalTable.self), state: block + Self.stateOffset)
    }

    var scheme: UnsafeMutablePointer<S> { (block + Self.stateOffset).assumingMemoryBound(to: S.self) }

    public mutating func safePoint() { scheme.pointee.safePoint() }
    public mutating func settle() { scheme.pointee.settle() }
    public mutating func suspend() { scheme.pointee.suspend() }
    public mutating func resume() { scheme.pointee.resume() }

    public mutating func threadExit() {
        scheme.pointee.threadExit()
        exitedCounters = scheme.pointee.counters
        scheme.deinitialize(count: 1)
        block.deallocate()
    }

    public var counters: SchemeCounters { exitedCounters ?? scheme.pointee.counters }
}
