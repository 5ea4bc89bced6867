import Glibc
import Synchronization

/// What a debug handle's record says of it (the low byte of the record's meta word).
enum RecordState: UInt64 {
    /// Never handed out: past the thread's high-water mark, or reserved memory never touched.
    case unused = 0
    case open = 1
    /// Closed by the extension; waits in the closed queue.
    case closed = 2
    /// Left open when its scope exited (a leak): the debug context closed it; waits in the
    /// closed queue, and any later use of it is an escape.
    case expired = 3
}

/// One thread's table of debug-handle records, in a reserved range of address space that never
/// moves, so another thread may read a record's `openedAt` and `meta` (both atomic) to report a
/// handle of this thread it was given. Every other word is the owner's alone.
///
/// A record is 32 bytes:
///
///     0  underlying  UInt64   the inner context's handle            owner only
///     8  openedAt    Int      the opening call's index              atomic (relaxed)
///    16  meta        UInt64   state | depth << 8 | thread << 32     atomic (relaxed)
///    24  closedAt    Int      closed or expired: the call that ended it
///
/// After the records, in the same range, the closed queue: a ring of record indices (UInt32)
/// with room for every record, addressed by ever-growing positions masked to the ring.
///
/// Pages are committed as they are touched; the range is unmapped when the run ends
/// (`DebugRun.deinit`), not when the thread exits, because other threads may still look.
struct DebugRecords {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    let closed: UnsafeMutablePointer<UInt32>
    let closedMask: Int
    let bytes: Int

    static let recordSize = 32
    /// Handles one thread may have open at once, beyond those waiting in its closed queue.
    static let openLimit = 1 << 20

    /// With `--backtraces`: `framesPerRecord` return addresses per record, where the record's
    /// handle was opened (0-terminated), in a reserved range of their own; nil without.
    let openingStacks: UnsafeMutablePointer<UInt>?
    static let framesPerRecord = 16

    init(closedQueue: Int, backtraces: Bool = false) {
        capacity = closedQueue + DebugRecords.openLimit
        var ring = 1
        while ring < capacity { ring <<= 1 }
        closedMask = ring - 1
        bytes = capacity * DebugRecords.recordSize + ring * 4
        let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        precondition(mapped != nil && mapped != UnsafeMutableRawPointer(bitPattern: -1), "mmap of \(bytes) bytes for debug handle records failed: \(errno)")
        base = mapped!
        closed = (base + capacity * DebugRecords.recordSize).assumingMemoryBound(to: UInt32.self)
        if backtraces {
            let stackBytes = capacity * DebugRecords.framesPerRecord * 8
            let stacks = mmap(nil, stackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
            precondition(stacks != nil && stacks != UnsafeMutableRawPointer(bitPattern: -1), "mmap of \(stackBytes) bytes for opening stacks failed: \(errno)")
            openingStacks = stacks!.assumingMemoryBound(to: UInt.self)
        } else {
            openingStacks = nil
        }
    }

    func deallocate() {
        let result = munmap(base, bytes)
        precondition(result == 0, "munmap failed: \(errno)")
        if let openingStacks {
            let stackResult = munmap(openingStacks, capacity * DebugRecords.framesPerRecord * 8)
            precondition(stackResult == 0, "munmap failed: \(errno)")
        }
    }

    /// Keeps the caller's stack, less the innermost `skip` frames, as where `record` was opened.
    @inline(never)
    func captureOpeningStack(_ record: Int, skip: Int) {
        guard let openingStacks else { return }
        let frames = openingStacks + record &* DebugRecords.framesPerRecord
        var buffer = (UnsafeMutableRawPointer?.none, UnsafeMutableRawPointer?.none, UnsafeMutableRawPointer?.none,
                      UnsafeMutableRawPointer?.none, UnsafeMutableRawPointer?.none, UnsafeMutableRawPointer?.none,
                      UnsafeMutableRawPointer?.none, UnsafeMutableRawPointer?.none, UnsafeMutableRawPointer?.none,
                      UnsafeMutableRawPointer?.none, UnsafeMutableRawPointer?.none, UnsafeMutableRawPointer?.none,
                      UnsafeMutableRawPointer?.none, UnsafeMutableRawPointer?.none, UnsafeMutableRawPointer?.none,
                      UnsafeMutableRawPointer?.none, UnsafeMutableRawPointer?.none, UnsafeMutableRawPointer?.none,
                      UnsafeMutableRawPointer?.none, UnsafeMutableRawPointer?.none)
        withUnsafeMutableBytes(of: &buffer) { raw in
            let slots = raw.bindMemory(to: UnsafeMutableRawPointer?.self)
            let depth = Int(Backtrace.capture(slots.baseAddress!, Int32(slots.count)))
            var kept = 0
            var index = skip + 1
            while index < depth && kept < DebugRecords.framesPerRecord - 1 {
                frames[kept] = UInt(bitPattern: slots[index])
                kept += 1
                index += 1
            }
            frames[kept] = 0
        }
    }

    /// The return addresses kept for `record`, innermost first; empty without `--backtraces`.
    func openingStack(_ record: Int) -> [UInt] {
        guard let openingStacks else { return [] }
        let frames = openingStacks + record * DebugRecords.framesPerRecord
        return (0..<DebugRecords.framesPerRecord).lazy.map { frames[$0] }.prefix { $0 != 0 }.map { $0 }
    }

    /// The record at position `position` of the closed queue.
    @inline(__always)
    func closedRecord(_ position: Int) -> Int { Int(truncatingIfNeeded: closed[position & closedMask]) }

    @inline(__always)
    func setClosedRecord(_ position: Int, _ record: Int) { closed[position & closedMask] = UInt32(truncatingIfNeeded: record) }

    @inline(__always)
    func address(_ record: Int) -> UnsafeMutableRawPointer { base + record &* DebugRecords.recordSize }

    @inline(__always)
    func underlying(_ record: Int) -> UInt64 { address(record).load(as: UInt64.self) }

    @inline(__always)
    func setUnderlying(_ record: Int, _ handle: UInt64) { address(record).storeBytes(of: handle, as: UInt64.self) }

    @inline(__always)
    func openedAtCell(_ record: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (address(record) + 8).assumingMemoryBound(to: Atomic<Int>.self)
    }

    @inline(__always)
    func metaCell(_ record: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (address(record) + 16).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @inline(__always)
    func openedAt(_ record: Int) -> Int { openedAtCell(record).pointee.load(ordering: .relaxed) }

    @inline(__always)
    func setOpenedAt(_ record: Int, _ index: Int) { openedAtCell(record).pointee.store(index, ordering: .relaxed) }

    @inline(__always)
    func meta(_ record: Int) -> UInt64 { metaCell(record).pointee.load(ordering: .relaxed) }

    @inline(__always)
    func setMeta(_ record: Int, _ meta: UInt64) { metaCell(record).pointee.store(meta, ordering: .relaxed) }

    @inline(__always)
    func link(_ record: Int) -> Int { (address(record) + 24).load(as: Int.self) }

    @inline(__always)
    func setLink(_ record: Int, _ value: Int) { (address(record) + 24).storeBytes(of: value, as: Int.self) }

    @inline(__always)
    static func state(_ meta: UInt64) -> RecordState { RecordState(rawValue: meta & 0xFF) ?? .unused }

    @inline(__always)
    static func depth(_ meta: UInt64) -> Int { Int(truncatingIfNeeded: (meta >> 8) & 0xFF_FFFF) }

    @inline(__always)
    static func thread(_ meta: UInt64) -> Int { Int(truncatingIfNeeded: meta >> 32) }

    @inline(__always)
    static func meta(state: RecordState, depth: Int, threadMeta: UInt64) -> UInt64 {
        threadMeta | UInt64(truncatingIfNeeded: depth) << 8 | state.rawValue
    }

    @inline(never)
    func exhausted() -> Never {
        preconditionFailure("debug context: more than \(DebugRecords.openLimit) handles open at once in one thread")
    }
}

/// A growable array of plain values in raw memory, owned by one thread.
struct RawBuffer<Element> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var capacity: Int
    var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    @inline(__always)
    subscript(index: Int) -> Element {
        get { base[index] }
        nonmutating set { base[index] = newValue }
    }

    mutating func append(_ element: Element) {
        if count == capacity { grow(to: capacity * 2) }
        (base + count).initialize(to: element)
        count += 1
    }

    /// Makes room for index `index`; the new elements are `filler`.
    mutating func ensure(_ index: Int, filler: Element) {
        guard index >= capacity else { return }
        grow(to: max(capacity * 2, index + 1))
        (base + count).initialize(repeating: filler, count: capacity - count)
        count = capacity
    }

    private mutating func grow(to newCapacity: Int) {
        let grown = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
        grown.moveInitialize(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }

    func deallocate() {
        base.deinitialize(count: count)
        base.deallocate()
    }
}

/// A report as a thread keeps it until the run's summary: plain values only, so the thread's
/// state holds no class reference.
struct ViolationRecord {
    var kind: ViolationKind
    var operation: DebugOperation
    var thread: Int32
    var owner: Int32
    var depth: Int32
    var handleDepth: Int32 = -1
    /// Index into `DebugRun`'s kept stacks, -1 for none.
    var backtrace: Int32 = -1
    /// Index into `DebugRun`'s kept stacks of where the handle was opened, -1 for none.
    var openingBacktrace: Int32 = -1
    var handle: UInt64
    var operationIndex: Int
    var openedAt = -1
    var closedAt = -1
    /// The extension function the thread called last (`--workload hpy`), static text.
    var extensionFunction: UnsafePointer<CChar>?

    init(kind: ViolationKind, operation: DebugOperation, thread: Int, owner: Int, depth: Int, handle: UInt64, operationIndex: Int) {
        self.kind = kind
        self.operation = operation
        self.thread = Int32(truncatingIfNeeded: thread)
        self.owner = Int32(truncatingIfNeeded: owner)
        self.depth = Int32(truncatingIfNeeded: depth)
        self.handle = handle
        self.operationIndex = operationIndex
    }

    func report(backtrace: [String]?, openingBacktrace: [String]? = nil) -> ViolationReport {
        ViolationReport(
            kind: kind, thread: Int(thread), handle: handle, operationIndex: operationIndex, openedAt: openedAt,
            closedAt: closedAt, owner: Int(owner), depth: Int(depth), handleDepth: Int(handleDepth),
            operation: operation, backtrace: backtrace, openingBacktrace: openingBacktrace,
            extensionFunction: extensionFunction.map { String(cString: $0) })
    }
}
