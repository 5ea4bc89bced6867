import Testing
@testable import RefScale

/// The object header `biased` and `perthread` count on is CPython's free-threaded `struct
/// _object`, and objects sit as CPython's allocator places small ones.
@Suite struct ObjectHeaderTests {
    @Test func theCountingFieldsAreWhereCPythonKeepsThem() {
        withPool(count: 1, alignment: 16) { pool in
            let object = pool[0]
            func offset(_ pointer: UnsafeMutableRawPointer) -> Int { pointer - object.address }
            #expect(offset(UnsafeMutableRawPointer(object.ownerThread)) == 0, "ob_tid")
            #expect(offset(UnsafeMutableRawPointer(object.localCountWord)) == 12, "ob_ref_local")
            #expect(MemoryLayout.size(ofValue: object.localCount) == 4, "ob_ref_local is 32 bits")
            #expect(offset(UnsafeMutableRawPointer(object.sharedCount)) == 16, "ob_ref_shared")
            #expect(offset(UnsafeMutableRawPointer(object.typeWord)) == 24, "ob_type")
            #expect(ObjectRef.cpythonHeaderSize == 32)
        }
    }

    @Test func byDefaultObjectsAre64BytesAndAdjacent() {
        let alignment = SchemeOptions().objectAlignment
        #expect(alignment == 16)
        withPool(count: 3, alignment: alignment) { pool in
            #expect(pool.stride == 64)
            #expect(pool[1].address - pool[0].address == 64)
            #expect(pool[2].address - pool[1].address == 64)
            #expect(UInt(bitPattern: pool[1].address) % 16 == 0)
        }
    }

    @Test func alignment128IsolatesEachObjectOnItsOwnLines() {
        withPool(count: 2, alignment: 128) { pool in
            #expect(pool.stride == 128)
            #expect(pool[1].address - pool[0].address == 128)
        }
    }

    /// As mimalloc gives each thread pages of its own: a thread's objects are side by side, and
    /// never share a page with another thread's or with the objects born by index.
    @Test func eachThreadsRegionStartsOnAPageOfItsOwn() throws {
        let pool = ObjectPool(count: 1, alignment: 16, regionSize: 3, threadSlots: 2)
        defer { pool.deallocate() }
        let first = try #require(pool.allocate(thread: 0, flags: []))
        let second = try #require(pool.allocate(thread: 0, flags: []))
        let other = try #require(pool.allocate(thread: 1, flags: []))
        #expect(second.address - first.address == 64)
        #expect((first.address - pool.base) % 4096 == 0 && first.address - pool.base >= 4096)
        #expect((other.address - pool.base) % 4096 == 0 && other.address - first.address >= 4096)
        [first, second, other].forEach { ObjectPool.free($0) }
    }

    /// Freeing poisons the counting fields, so a later write is found.
    @Test func freeingPoisonsTheCountingFields() {
        withPool(count: 1, alignment: 16) { pool in
            let object = pool.bear(0, flags: [])
            ObjectPool.free(object)
            #expect(object.poisonIsIntact())
            object.localCount = 7
            #expect(!object.poisonIsIntact())
            #expect(pool.validateLifetimes() != nil)
        }
    }
}
