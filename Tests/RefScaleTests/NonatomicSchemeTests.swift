import Testing
@testable import RefScale

@Suite struct NonatomicSchemeTests {
    @Test func lastCloseFreesExactlyOnce() {
        withPool(count: 1) { pool in
            var context = NonatomicScheme(shared: NonatomicScheme.makeShared(options: SchemeOptions(), threads: 1), threadID: 1)
            let object = pool.bear(0, flags: [])
            let handle = context.new(object)
            let duplicates = (0..<3).map { _ in context.dup(handle) }
            let opened = context.open(object)
            #expect(object.plainCount == 5)
            duplicates.forEach { context.close($0) }
            context.close(handle)
            #expect(object.plainCount == 1)
            #expect(object.timesFreed == 0, "one reference is still open")
            context.close(opened)
            #expect(object.timesFreed == 1)
            #expect(countWordIsPoisoned(object))
            #expect(context.counters.frees == 1)
            #expect(pool.validateLifetimes() == nil)
        }
    }

    @Test func countingSpendsNoAtomicReadModifyWrite() {
        withPool(count: 1) { pool in
            var context = NonatomicScheme(shared: NoSharedState(), threadID: 1)
            let handle = context.new(pool.bear(0, flags: []))
            for _ in 0..<10 { context.close(context.dup(handle)) }
            context.close(handle)
            #expect(context.counters.atomicRMW == 0)
        }
    }

    @Test func immortalObjectIsNeverCountedOrFreed() throws {
        try expectImmortalObjectIsNeverCountedOrFreed(NonatomicScheme.self)
    }
}
