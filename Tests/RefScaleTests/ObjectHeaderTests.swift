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
