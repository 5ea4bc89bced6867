import Testing
@testable import RefScale

/// `load(from:)` (`HPyField_Load`, `HPyGlobal_Load`) for every scheme that frees: the handle it
/// returns holds its object itself, so the object outlives the slot's reference. The protocol
/// states why: nothing but the slot keeps the object alive, and another thread may replace the
/// slot while the handle lives. A load that hands back a borrowed handle keeps every count
/// balanced (it takes nothing and gives nothing back), so a run's validation cannot see it; this
/// can: the slot's reference is dropped while the loaded handle is open.
///
/// Left out: `noop` frees nothing, and `cpython` counts the interpreter's own objects (its load
/// is the protocol's default, `open`, which is `Py_INCREF`).
@Suite("load holds its object")
struct LoadTests {
    static let schemeNames = ["nonatomic", "gil", "atomic", "biased", "perthread", "handle-local", "arena", "handle-table"]

    @Test func everySchemeThatFreesIsChecked() {
        #expect(Set(Self.schemeNames) == Set(Registry.schemes.map(\.name)).subtracting(["noop", "cpython"]))
    }

    func expectLoadHoldsItsObject<S: CountingScheme>(_ scheme: S.Type, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try withPool(count: 1) { pool in
            let shared = try S.makeShared(options: SchemeOptions(), threads: 2)
            var context = S(shared: shared, threadID: 1)
            var other = S(shared: shared, threadID: 2)
            let object = pool.bear(0, flags: [])
            var slot: UInt = 0
            context.enterScope()
            let made = context.new(object)
            context.retain(object)
            slot = UInt(bitPattern: object.address)
            context.close(made)
            context.exitScope()
            context.safePoint()
            #expect(object.timesFreed == 0, "the slot's reference alone keeps the object", sourceLocation: sourceLocation)

            context.enterScope()
            let loaded = context.load(from: &slot)
            #expect(context.object(of: loaded).address == object.address, sourceLocation: sourceLocation)
            context.suspend()
            // Another thread replaces the slot: the slot's reference ends in that thread, outside
            // any scope of this one; this thread then reaches a safe point (merging what it owns).
            slot = 0
            other.release(object)
            other.safePoint()
            other.suspend()
            context.safePoint()
            #expect(object.timesFreed == 0, "\(S.name): the slot was replaced while a loaded handle was open, and the object was freed", sourceLocation: sourceLocation)
            _ = context.read(loaded)
            context.close(loaded)
            context.exitScope()
            context.safePoint()
            context.suspend()
            other.threadExit()
            context.threadExit()
            #expect(object.timesFreed == 1, "\(S.name): the loaded handle's close did not free the object", sourceLocation: sourceLocation)
            #expect(pool.validateLifetimes() == nil, "\(S.name): \(pool.validateLifetimes() ?? "")", sourceLocation: sourceLocation)
        }
    }

    @Test func nonatomic() throws { try expectLoadHoldsItsObject(NonatomicScheme.self) }
    @Test func gil() throws { try expectLoadHoldsItsObject(GilScheme.self) }
    @Test func atomic() throws { try expectLoadHoldsItsObject(AtomicScheme.self) }
    @Test func biased() throws { try expectLoadHoldsItsObject(BiasedScheme.self) }
    @Test func perThread() throws { try expectLoadHoldsItsObject(PerThreadScheme.self) }
    @Test func handleLocal() throws { try expectLoadHoldsItsObject(HandleLocalScheme.self) }
    @Test func arena() throws { try expectLoadHoldsItsObject(ArenaScheme.self) }
    @Test func handleTable() throws { try expectLoadHoldsItsObject(HandleTableScheme.self) }
}
