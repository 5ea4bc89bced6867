import Testing
@testable import RefScale

@Suite struct AtomicSchemeTests {
    @Test func lastCloseFreesExactlyOnce() {
        withPool(count: 1) { pool in
            var context = AtomicScheme(shared: AtomicScheme.makeShared(options: SchemeOptions(), threads: 1), threadID: 1)
            let object = pool.bear(0, flags: [])
            let handle = context.new(object)
            #expect(countWord(object) == 1)
            let duplicates = (0..<3).map { _ in context.dup(handle) }
            let opened = context.open(object)
            #expect(countWord(object) == 5)
            duplicates.forEach { context.close($0) }
            context.close(handle)
            #expect(object.timesFreed == 0, "one reference is still open")
            context.close(opened)
            #expect(object.timesFreed == 1)
            #expect(countWordIsPoisoned(object))
            #expect(context.counters.frees == 1)
            #expect(pool.validateLifetimes() == nil)
        }
    }

    @Test func everyIncrementAndDecrementIsOneAtomicReadModifyWrite() {
        withPool(count: 1) { pool in
            var context = AtomicScheme(shared: NoSharedState(), threadID: 1)
            let handle = context.new(pool.bear(0, flags: []))
            #expect(context.counters.atomicRMW == 0, "new stores the first count plainly")
            context.close(context.dup(handle))
            #expect(context.counters.atomicRMW == 2)
            context.close(handle)
            #expect(context.counters.atomicRMW == 3)
        }
    }

    @Test func referencesFromTwoThreadsShareOneCount() {
        withPool(count: 1) { pool in
            var maker = AtomicScheme(shared: NoSharedState(), threadID: 1)
            var other = AtomicScheme(shared: NoSharedState(), threadID: 2)
            let object = pool.bear(0, flags: [])
            let handle = maker.new(object)
            let opened = other.open(object)
            #expect(countWord(object) == 2)
            maker.close(handle)
            #expect(object.timesFreed == 0)
            other.close(opened)
            #expect(object.timesFreed == 1)
            #expect(other.counters.frees == 1)
            #expect(maker.counters.frees == 0)
        }
    }

    @Test func immortalObjectIsNeverCountedOrFreed() throws {
        try expectImmortalObjectIsNeverCountedOrFreed(AtomicScheme.self)
    }
}
