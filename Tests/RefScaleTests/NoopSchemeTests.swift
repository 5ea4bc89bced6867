import Testing
@testable import RefScale

@Suite struct NoopSchemeTests {
    @Test func closeOfTheHandleMadeByNewFreesExactlyOnce() {
        withPool(count: 1) { pool in
            var context = NoopScheme(shared: NoopScheme.makeShared(options: SchemeOptions(), threads: 1), threadID: 1)
            let object = pool.bear(0, flags: [])
            let handle = context.new(object)
            let duplicates = (0..<3).map { _ in context.dup(handle) }
            let opened = context.open(object)
            #expect(duplicates.allSatisfy { context.object(of: $0) == object })
            #expect(context.read(handle) == object.payload)
            duplicates.forEach { context.close($0) }
            context.close(opened)
            #expect(object.timesFreed == 0, "only the handle made by new owns the object")
            context.close(handle)
            #expect(object.timesFreed == 1)
            #expect(countWordIsPoisoned(object))
            #expect(context.counters.frees == 1)
            #expect(pool.validateLifetimes() == nil)
        }
    }

    @Test func dupOpenAndCloseOfBorrowedHandlesWriteNothingToTheObject() {
        withPool(count: 1) { pool in
            var context = NoopScheme(shared: NoSharedState(), threadID: 1)
            let object = pool.bear(0, flags: [])
            let handle = context.new(object)
            let header = headerWords(object)
            context.close(context.dup(handle))
            context.close(context.dup(context.open(object)))
            #expect(headerWords(object) == header)
            #expect(context.counters.atomicRMW == 0)
            context.close(handle)
        }
    }

    @Test func immortalObjectIsNeverCountedOrFreed() throws {
        try expectImmortalObjectIsNeverCountedOrFreed(NoopScheme.self)
    }
}
