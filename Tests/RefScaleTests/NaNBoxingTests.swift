import Testing
@testable import RefScale

/// NaN boxing in `arena` and `handle-table` (`NaNBoxing`): immediates are never counted and never
/// look like a handle of the scheme.
@Suite struct NaNBoxingTests {
    static func options(_ mode: NaNBoxingMode) -> SchemeOptions {
        var options = SchemeOptions()
        options[NaNBoxing.option] = mode
        return options
    }

    /// Over random ints and floats: the box is at or above 2^48 (no index or user address is),
    /// and reads back the number's bits.
    @Test func everyIntAndDoubleBoxesAboveEveryHandleAndReadsBack() {
        var generator = SplitMix64(seed: 0xBA5E)
        for _ in 0..<1000 {
            let raw = UInt32(truncatingIfNeeded: generator.next())
            for number in [Number(kind: .int, raw: raw), Number(kind: .float, raw: raw & 0x7F7F_FFFF)] {
                let box = NaNBoxing.immediate(number)
                #expect(NaNBoxing.isImmediate(box))
                #expect(NaNBoxing.value(of: box) == number.bits)
            }
            let address = generator.next() & (1 << 47 - 1)
            #expect(!NaNBoxing.isImmediate(Handle(bits: address)))
        }
        #expect(NaNBoxing.immediate(.other) == .null)
    }

    @Test func boxingOffBoxesNothing() {
        var arena = ArenaScheme(shared: ArenaScheme.makeShared(options: Self.options(.off), threads: 1), threadID: 2)
        let shared = HandleTableScheme.makeShared(options: Self.options(.off), threads: 1)
        var table = HandleTableScheme(shared: shared, threadID: 2)
        #expect(arena.immediate(.int(7)) == .null)
        #expect(table.immediate(.float(1.5)) == .null)
        arena.threadExit()
        table.threadExit()
        withExtendedLifetime(shared) {}
    }

    /// An int and a float made inside a scope with an object beside them: no atomic, no entry, no
    /// free, and both read back after dups, closes and the scope's exit.
    static func expectImmediatesNeverCounted<S: CountingScheme>(_ context: inout S, pool: ObjectPool) {
        let object = pool.bear(0, flags: [])
        context.enterScope()
        let objectHandle = context.new(object)
        let before = context.counters
        let numbers = [Number.int(-7), Number.int(Int32.max), Number.float(-0.25)]
        let handles = numbers.map { context.immediate($0) }
        #expect(handles.allSatisfy { $0 != .null })
        for (handle, number) in zip(handles, numbers) {
            let duplicate = context.dup(handle)
            #expect(context.read(duplicate) == number.bits)
            context.close(duplicate)
            context.close(handle)
            #expect(context.read(handle) == number.bits)
        }
        #expect(context.counters == before, "an immediate was counted")
        context.close(objectHandle)
        context.exitScope()
        for (handle, number) in zip(handles, numbers) { #expect(context.read(handle) == number.bits) }
        context.safePoint()
        context.threadExit()
        #expect(object.timesFreed == 1)
        #expect(pool.validateLifetimes() == nil)
    }

    @Test func arenaImmediatesAreNeverCounted() {
        withPool(count: 1) { pool in
            var arena = ArenaScheme(shared: ArenaScheme.makeShared(options: Self.options(.on), threads: 1), threadID: 2)
            Self.expectImmediatesNeverCounted(&arena, pool: pool)
        }
    }

    @Test func handleTableImmediatesAreNeverCounted() {
        withPool(count: 1) { pool in
            // The run keeps the shared table alive, not the contexts.
            let shared = HandleTableScheme.makeShared(options: Self.options(.on), threads: 1)
            var table = HandleTableScheme(shared: shared, threadID: 2)
            Self.expectImmediatesNeverCounted(&table, pool: pool)
            withExtendedLifetime(shared) {}
        }
    }
}
