import Synchronization
import Testing
@testable import RefScale

/// Helpers every scheme's tests use: reading an object's header as the scheme left it, and the
/// checks that hold for every scheme (immortal objects), written once and called per scheme.

/// The object's count word (the shared word for `biased`, the shared count for `handle-local`).
func countWord(_ object: ObjectRef) -> Int {
    object.count.pointee.load(ordering: .relaxed)
}

/// Every 8-byte word of the object's header and payload, to prove an operation wrote nothing.
func headerWords(_ object: ObjectRef) -> [UInt64] {
    stride(from: 0, to: ObjectRef.headerSize, by: 8).map {
        (object.address + $0).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .relaxed)
    }
}

/// Whether `ObjectPool.free` poisoned the object's count word.
func countWordIsPoisoned(_ object: ObjectRef) -> Bool {
    UInt64(UInt(bitPattern: countWord(object))) == ObjectRef.poison
}

/// Runs `body` on a fresh pool and releases the pool afterwards.
func withPool<R>(count: Int, alignment: Int = 128, _ body: (ObjectPool) throws -> R) rethrows -> R {
    let pool = ObjectPool(count: count, alignment: alignment)
    defer { pool.deallocate() }
    return try body(pool)
}

/// The PEP 683 rule for any scheme: an immortal object's header is never written by a count
/// operation (in its owner's thread or another), it is never freed, and no atomic is spent on it.
func expectImmortalObjectIsNeverCountedOrFreed<S: CountingScheme>(
    _ scheme: S.Type, options: SchemeOptions = SchemeOptions(), sourceLocation: SourceLocation = #_sourceLocation
) throws {
    try withPool(count: 1, alignment: options.objectAlignment) { pool in
        let shared = try S.makeShared(options: options, threads: 2)
        var maker = S(shared: shared, threadID: 1)
        var other = S(shared: shared, threadID: 2)
        let object = pool.bear(0, flags: [.immortal])
        let first = maker.new(object)
        let header = headerWords(object)

        func exercise(_ context: inout S) {
            let opened = context.open(object)
            let duplicates = (0..<5).map { _ in context.dup(opened) }
            let duplicateOfFirst = context.dup(first)
            _ = context.read(opened)
            duplicates.reversed().forEach { context.close($0) }
            context.close(duplicateOfFirst)
            context.close(opened)
            context.safePoint()
        }
        exercise(&maker)
        exercise(&other)
        #expect(headerWords(object) == header, "an immortal object's header was written", sourceLocation: sourceLocation)

        maker.close(first)
        maker.safePoint()
        other.threadExit()
        maker.threadExit()
        #expect(object.timesFreed == 0, sourceLocation: sourceLocation)
        #expect(maker.counters.frees + other.counters.frees == 0, sourceLocation: sourceLocation)
        #expect(maker.counters.atomicRMW + other.counters.atomicRMW == 0, sourceLocation: sourceLocation)
        #expect(pool.validateLifetimes() == nil, sourceLocation: sourceLocation)
    }
}
