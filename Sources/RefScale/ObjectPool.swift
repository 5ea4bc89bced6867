import Synchronization

/// One object of the pool: a header holding every field any scheme needs, then a payload.
///
/// Layout (byte offsets from the object's address, which is aligned to the pool's alignment):
///
///     0  count        Int     the shared count (atomic schemes) or the plain count
///     8  ownerThread  UInt32  biased: owning thread, 0 = none
///    12  localCount   UInt32  biased: the owner's count, written only by the owner
///    16  queueNext    UInt    biased: link in the owner's merge queue
///                              perthread: the run's state, for an object with a unique id
///    24  flags        UInt32  born, immortal
///    28  freeCount    UInt32  how many times the object was freed (validation reads it)
///    32  uniqueID     Int     per-thread counting: index into the per-thread arrays, -1 = none
///    40  payload      UInt64  what `read` returns
///
/// Schemes reach these fields through the accessors below and never compute addresses of
/// their own. Fields other than `flags` and `freeCount` are overwritten with `poison` when the
/// object is freed, so any later write is found by `ObjectPool.validate`.
public struct ObjectRef: Equatable, Hashable, @unchecked Sendable {
    public let address: UnsafeMutableRawPointer

    @inline(__always)
    public init(address: UnsafeMutableRawPointer) { self.address = address }

    /// The object a handle names once `indexMask` (the scheme's spare bits) is cleared.
    @inline(__always)
    public init(_ handle: Handle, clearing indexMask: UInt64 = 0) {
        self.address = UnsafeMutableRawPointer(bitPattern: UInt(handle.bits & ~indexMask))!
    }

    public static let headerSize = 48
    public static let poison = UInt64(0xDEAD_BEEF_DEAD_BEEF)
    /// The words `ObjectPool.free` poisons: all but `flags` and `freeCount`.
    public static let poisonedOffsets = stride(from: 0, to: 48, by: 8).filter { $0 != 24 }

    @inline(__always)
    public var count: UnsafeMutablePointer<Atomic<Int>> {
        address.assumingMemoryBound(to: Atomic<Int>.self)
    }

    /// A counter that is plain (no atomic read-modify-write) but kept in memory: every change is
    /// a load and a store the optimiser may neither fold nor keep in a register.
    @inline(__always)
    public var plainCount: Int {
        get { count.pointee.load(ordering: .relaxed) }
        nonmutating set { count.pointee.store(newValue, ordering: .relaxed) }
    }

    @inline(__always)
    public var ownerThread: UnsafeMutablePointer<Atomic<UInt32>> {
        (address + 8).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    @inline(__always)
    public var localCount: UInt32 {
        get { (address + 12).assumingMemoryBound(to: Atomic<UInt32>.self).pointee.load(ordering: .relaxed) }
        nonmutating set { (address + 12).assumingMemoryBound(to: Atomic<UInt32>.self).pointee.store(newValue, ordering: .relaxed) }
    }

    @inline(__always)
    public var queueNext: UnsafeMutablePointer<Atomic<UInt>> {
        (address + 16).assumingMemoryBound(to: Atomic<UInt>.self)
    }

    @inline(__always)
    var flags: UnsafeMutablePointer<Atomic<UInt32>> {
        (address + 24).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    @inline(__always)
    var freeCount: UnsafeMutablePointer<Atomic<UInt32>> {
        (address + 28).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    @inline(__always)
    public var uniqueID: Int {
        get { (address + 32).assumingMemoryBound(to: Atomic<Int>.self).pointee.load(ordering: .relaxed) }
        nonmutating set { (address + 32).assumingMemoryBound(to: Atomic<Int>.self).pointee.store(newValue, ordering: .relaxed) }
    }

    @inline(__always)
    public var payload: UInt64 {
        (address + 40).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .relaxed)
    }

    static let bornFlag: UInt32 = 1 << 8
    static let immortalFlag = UInt32(ObjectFlags.immortal.rawValue)

    /// Immortal objects (PEP 683) are never counted and never freed.
    @inline(__always)
    public var isImmortal: Bool { flags.pointee.load(ordering: .relaxed) & ObjectRef.immortalFlag != 0 }

    /// One of the objects the workload shares between threads.
    public var isShared: Bool { flags.pointee.load(ordering: .relaxed) & UInt32(ObjectFlags.shared.rawValue) != 0 }

    public func makeImmortal() { flags.pointee.bitwiseOr(ObjectRef.immortalFlag, ordering: .relaxed) }

    public var isBorn: Bool { flags.pointee.load(ordering: .relaxed) & ObjectRef.bornFlag != 0 }
    public var timesFreed: Int { Int(freeCount.pointee.load(ordering: .relaxed)) }
}

/// What a workload says of an object when it makes it.
public struct ObjectFlags: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Never counted, never freed (PEP 683).
    public static let immortal = ObjectFlags(rawValue: 1)
    /// Reached by several threads (per-thread counting gives such objects a unique id).
    public static let shared = ObjectFlags(rawValue: 2)
}

/// The run's objects, allocated and zeroed before the timed interval. Object `i` starts at
/// `base + i * stride`; `stride` is a multiple of the alignment, so the low `log2(alignment)`
/// bits of every object address are zero and free for a scheme to use.
public struct ObjectPool: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let stride: Int
    public let count: Int
    public let alignment: Int

    public static func stride(alignment: Int) -> Int {
        (ObjectRef.headerSize + alignment - 1) / alignment * alignment
    }

    public init(count: Int, alignment: Int) {
        precondition(alignment >= 8 && alignment & (alignment - 1) == 0, "alignment must be a power of two >= 8")
        self.count = count
        self.alignment = alignment
        self.stride = ObjectPool.stride(alignment: alignment)
        let bytes = max(1, count) * stride
        base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: max(alignment, 128))
        base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    public func deallocate() { base.deallocate() }

    @inline(__always)
    public subscript(index: Int) -> ObjectRef { ObjectRef(address: base + index * stride) }

    /// Marks object `index` alive with the given payload; the scheme then sets its count fields.
    public func bear(_ index: Int, flags: ObjectFlags) -> ObjectRef {
        let object = self[index]
        object.flags.pointee.store(ObjectRef.bornFlag | UInt32(flags.rawValue), ordering: .relaxed)
        object.uniqueID = -1
        (object.address + 40).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.store(UInt64(index) &+ 1, ordering: .relaxed)
        return object
    }

    /// Ends an object's life: counts the free and poisons every field a scheme may write.
    @inline(__always)
    public static func free(_ object: ObjectRef) {
        object.freeCount.pointee.wrappingAdd(1, ordering: .relaxed)
        for offset in ObjectRef.poisonedOffsets {
            (object.address + offset).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.store(ObjectRef.poison, ordering: .relaxed)
        }
    }

    /// Checks every born object: freed exactly once, not written after being freed.
    /// Returns the first problem found, or nil.
    public func validateLifetimes() -> String? {
        var problems: [String] = []
        var bad = 0
        for index in 0..<count {
            let object = self[index]
            guard object.isBorn else { continue }
            let freed = object.timesFreed
            var problem: String?
            if object.isImmortal {
                if freed > 0 { problem = "immortal object \(index) freed" }
            } else if freed == 0 {
                problem = "object \(index) never freed (count \(object.plainCount))"
            } else if freed > 1 {
                problem = "object \(index) freed \(freed) times"
            } else if ObjectRef.poisonedOffsets.contains(where: {
                (object.address + $0).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .relaxed) != ObjectRef.poison
            }) {
                problem = "object \(index) written after it was freed"
            }
            if let problem {
                bad += 1
                if problems.count < 3 { problems.append(problem) }
            }
        }
        guard bad > 0 else { return nil }
        return "\(bad) object(s) failed: " + problems.joined(separator: "; ")
    }
}
