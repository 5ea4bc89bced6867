import CHPyContext
import CRefScale
import Glibc

/// One thread's debug context: the debug table, the thread's record table and closed queue, and
/// the inner (universal) context every checked call goes on to. Nothing here depends on the
/// scheme: the checks are written once, as HPy's debug mode wraps any universal context.
///
/// A debug handle is `contextID << 32 | record`: the index of a record in the table of the context
/// that made it. Every `new`, `open`, `adopt` and `dup` makes a new record, so two handles to
/// one object are always two records, whatever the inner scheme returns.
///
/// Invariants:
/// - Every field but the fixed ones is written by the owning thread only. Another thread reads
///   the fixed fields, and a record's `openedAt` and `meta`, to name a handle of this thread it
///   was given; nothing else.
/// - Each call through the table first checks that the calling thread is the owner (check 7);
///   otherwise the call is reported in the caller's own context and touches nothing of this one.
/// - `operationIndex` counts the calls through this context (the table's entries and
///   `escapeUnconverted`): a report's operation index is the call's place in the thread's stream.
/// - `openHere` is the number of open records made at the current scope depth, `openAtDepth[d]`
///   that of each outer depth `d`. A record made at depth `d` is borrowed by every deeper scope:
///   it may be used there, not closed or returned. An open record of the current depth has the
///   meta word `openMeta`, so "open and made here" is one comparison. Scope exit looks for leaks
///   only when `openHere` is not 0.
/// - A record that stops being open (closed, or expired by the debug context at its scope's exit)
///   joins the closed queue, first in first out. A new record reuses the oldest closed one only
///   when more than `closedQueue` wait; otherwise it takes a never-used one. So a use after close
///   is caught at least until `closedQueue` more records have closed, and until the record is
///   reused after that. Waiting does not touch the record: its state and `closedAt` stay until
///   it is reused.
/// - Collect mode neutralises what it reports: the violating call does nothing to the inner
///   context (a leak found at scope exit is closed there, so the counts stay exact); where the
///   kernel needs a result it gets a stand-in — 0 for `read`, the run's immortal stand-in object
///   for `object(of:)` and `transfer`, a new open handle to the stand-in for `dup`, the handle
///   itself for `returning`. Immortal objects are never counted, so the stand-in changes no count.
struct DebugThread {
    /// The debug table: the universal table's shape, each entry a checked wrapper
    /// (`DebugEntries`). First, so the table sits at the state's address.
    var table: UniversalTable

    // Fixed at init; any thread may read them.
    let serial: UInt64
    let tag: UInt64
    let threadID: Int
    let threadMeta: UInt64
    let records: DebugRecords
    /// The inner universal context: a copy of its table, so a call needs one load, and its state.
    let innerTable: UniversalTable
    let innerState: UnsafeMutableRawPointer
    let standIn: UInt64
    let abortOnViolation: Bool
    let backtraces: Bool
    let run: Unmanaged<DebugRun>

    // The owner's alone.
    var operationIndex = 0
    var depth = 0
    var highWater = 0
    /// The closed queue: records `closedHead..<closedTail` of `records.closed`, oldest first;
    /// `reusable` is how many more than `closedQueue` wait (negative while fewer do).
    let closedQueue: Int
    var closedHead = 0
    var closedTail = 0
    var reusable: Int
    /// The meta word of an open record made at the current depth, and of one closed there.
    var openMeta: UInt64
    var closedMeta: UInt64
    /// Open records made at the current depth, and at each outer depth (`openAtDepth[d]`, d < depth).
    var openHere = 0
    var openAtDepth: RawBuffer<Int>
    var counts: UnsafeMutablePointer<Int>
    var reports: RawBuffer<ViolationRecord>
    var reportsDropped = 0

    static let recordMask: UInt64 = 0xFFFF_FFFF
    /// Reports a thread keeps for the summary; the ones after are counted, not kept.
    static let reportLimit = 1 << 20

    init(contextID: Int, threadID: Int, inner: TableCaller, run: DebugRun) {
        table = DebugEntries.table
        serial = crefscale_thread_serial()
        tag = UInt64(contextID) << 32
        self.threadID = threadID
        threadMeta = UInt64(UInt32(truncatingIfNeeded: threadID)) << 32
        records = DebugRecords(closedQueue: run.options.closedQueue, backtraces: run.options.backtraces)
        innerTable = inner.table.pointee
        innerState = inner.state
        standIn = run.standIn.word
        abortOnViolation = run.options.onViolation == .abort
        backtraces = run.options.backtraces
        self.run = Unmanaged.passUnretained(run)
        closedQueue = run.options.closedQueue
        reusable = -run.options.closedQueue
        openMeta = DebugRecords.meta(state: .open, depth: 0, threadMeta: threadMeta)
        closedMeta = DebugRecords.meta(state: .closed, depth: 0, threadMeta: threadMeta)
        openAtDepth = RawBuffer(capacity: 64)
        openAtDepth.ensure(63, filler: 0)
        counts = .allocate(capacity: ViolationKind.allCases.count)
        counts.initialize(repeating: 0, count: ViolationKind.allCases.count)
        reports = RawBuffer(capacity: 16)
    }

    func deallocate() {
        records.deallocate()
        openAtDepth.deallocate()
        counts.deallocate()
        reports.deallocate()
    }

    @inline(__always)
    mutating func nextIndex() -> Int {
        let index = operationIndex
        operationIndex = index &+ 1
        return index
    }

    /// The inner context, called through the copy of its table.
    var inner: InnerCaller { InnerCaller(table: innerTable, state: innerState) }

    // MARK: Records

    /// Takes a record for a new open handle at the current depth, opened at call `index`, and
    /// returns it with the handle that names it; the caller stores the inner handle.
    @inline(__always)
    mutating func takeRecord(openedAt index: Int) -> (record: Int, handle: UInt64) {
        var record: Int
        if reusable > 0 {
            record = records.closedRecord(closedHead)
            closedHead &+= 1
            reusable &-= 1
        } else {
            record = highWater
            if record == records.capacity { records.exhausted() }
            highWater = record &+ 1
        }
        records.setOpenedAt(record, index)
        records.setMeta(record, openMeta)
        if backtraces { records.captureOpeningStack(record, skip: 0) }
        openHere &+= 1
        return (record, tag | UInt64(truncatingIfNeeded: record))
    }

    /// A new open record at the current depth for the inner handle `underlying`.
    @inline(__always)
    mutating func makeRecord(_ underlying: UInt64, openedAt index: Int) -> UInt64 {
        let taken = takeRecord(openedAt: index)
        records.setUnderlying(taken.record, underlying)
        return taken.handle
    }

    /// Ends an open record of the current depth (its meta word is `openMeta`) at call `index`;
    /// it joins the closed queue.
    @inline(__always)
    mutating func retireHere(_ record: Int, at index: Int) {
        openHere &-= 1
        records.setMeta(record, closedMeta)
        records.setLink(record, index)
        enqueueClosed(record)
    }

    @inline(__always)
    mutating func enqueueClosed(_ record: Int) {
        records.setClosedRecord(closedTail, record)
        closedTail &+= 1
        reusable &+= 1
    }

    /// The record of an open handle of this context, or nil after reporting why it is not one.
    @inline(__always)
    mutating func usable(_ bits: UInt64, _ operation: DebugOperation, at index: Int) -> (record: Int, meta: UInt64)? {
        let record = Int(truncatingIfNeeded: bits & DebugThread.recordMask)
        if bits & ~DebugThread.recordMask == tag && record < highWater {
            let meta = records.meta(record)
            if meta & 0xFF == RecordState.open.rawValue { return (record, meta) }
        }
        reportUnusable(bits, operation, at: index)
        return nil
    }

    /// The record of an open handle this scope made (not one borrowed from an outer scope), for a
    /// call that ends the handle; or nil after reporting why it is not one.
    @inline(__always)
    mutating func closable(_ bits: UInt64, _ operation: DebugOperation, at index: Int) -> Int? {
        let record = Int(truncatingIfNeeded: bits & DebugThread.recordMask)
        if bits & ~DebugThread.recordMask == tag && record < highWater && records.meta(record) == openMeta { return record }
        notClosable(bits, operation, at: index)
        return nil
    }

    @inline(never)
    mutating func notClosable(_ bits: UInt64, _ operation: DebugOperation, at index: Int) {
        guard let found = usable(bits, operation, at: index) else { return }
        reportBorrowed(bits, found.record, found.meta, operation, at: index)
    }

    // MARK: Operations

    @inline(__always)
    mutating func make(_ inner: UInt64, at index: Int) -> UInt64 { makeRecord(inner, openedAt: index) }

    @inline(__always)
    mutating func dup(_ bits: UInt64) -> UInt64 {
        let index = nextIndex()
        guard let found = usable(bits, .dup, at: index) else { return standInHandle(at: index) }
        let duplicate = innerTable.dup(innerState, records.underlying(found.record))
        return makeRecord(duplicate, openedAt: index)
    }

    @inline(__always)
    mutating func close(_ bits: UInt64) {
        let index = nextIndex()
        guard let record = closable(bits, .close, at: index) else { return }
        let underlying = records.underlying(record)
        retireHere(record, at: index)
        inner.close(Handle(bits: underlying))
    }

    @inline(__always)
    mutating func read(_ bits: UInt64) -> UInt64 {
        let index = nextIndex()
        guard let found = usable(bits, .read, at: index) else { return 0 }
        return inner.read(Handle(bits: records.underlying(found.record)))
    }

    mutating func object(_ bits: UInt64) -> UInt64 {
        let index = nextIndex()
        guard let found = usable(bits, .object, at: index) else { return standIn }
        return inner.object(of: Handle(bits: records.underlying(found.record))).word
    }

    mutating func transfer(_ bits: UInt64) -> UInt64 {
        let index = nextIndex()
        guard let record = closable(bits, .transfer, at: index) else { return standIn }
        let underlying = records.underlying(record)
        retireHere(record, at: index)
        return inner.transfer(Handle(bits: underlying)).word
    }

    /// The returned handle keeps its record, which moves to the caller's scope.
    mutating func returning(_ bits: UInt64) -> UInt64 {
        let index = nextIndex()
        guard let found = usable(bits, .returning, at: index) else { return bits }
        if found.meta != openMeta {
            reportBorrowed(bits, found.record, found.meta, .returning, at: index)
            return bits
        }
        records.setUnderlying(found.record, inner.returning(Handle(bits: records.underlying(found.record))).bits)
        if depth > 0 {
            openHere &-= 1
            openAtDepth[depth - 1] &+= 1
            records.setMeta(found.record, DebugRecords.meta(state: .open, depth: depth - 1, threadMeta: threadMeta))
        }
        return bits
    }

    /// `openAtDepth[d]` holds the count of each outer depth `d`; `openHere` the current one's.
    mutating func enterScope() {
        _ = nextIndex()
        inner.enterScope()
        openAtDepth.ensure(depth, filler: 0)
        openAtDepth[depth] = openHere
        depth += 1
        openHere = 0
        openMeta = DebugRecords.meta(state: .open, depth: depth, threadMeta: threadMeta)
        closedMeta = DebugRecords.meta(state: .closed, depth: depth, threadMeta: threadMeta)
    }

    mutating func exitScope() {
        let index = nextIndex()
        if openHere != 0 { expireLeaks(deeperThan: depth - 1, operation: .exitScope, at: index) }
        inner.exitScope()
        if depth > 0 {
            depth -= 1
            openHere = openAtDepth[depth]
            openMeta = DebugRecords.meta(state: .open, depth: depth, threadMeta: threadMeta)
            closedMeta = DebugRecords.meta(state: .closed, depth: depth, threadMeta: threadMeta)
        }
    }

    /// A handle a module's exec slots left open, closed on the module's behalf: the debug
    /// context's leak report goes to stderr at once, whatever `--on-violation` says, and is
    /// neither filed nor counted. It is the module's breach of the contract, not the run's: the
    /// function under test is what the run checks, and its row stays valid.
    mutating func disown(_ bits: UInt64) {
        let index = nextIndex()
        guard let record = closable(bits, .close, at: index) else { return }
        var report = ViolationRecord(
            kind: .leak, operation: .exitScope, thread: threadID, owner: threadID, depth: depth, handle: bits,
            operationIndex: index)
        report.openedAt = records.openedAt(record)
        report.handleDepth = Int32(truncatingIfNeeded: depth)
        report.extensionFunction = chpy_current_function()
        let stack = backtraces ? Backtrace.symbolised(skip: 1) : nil
        let opening = backtraces ? Backtrace.symbolised(frames: records.openingStack(record)) : nil
        fputs("refscale: the module's handle contract violation, not counted against the run (the handle is closed on "
            + "its behalf): \(report.report(backtrace: stack, openingBacktrace: opening).fullText)\n", stderr)
        let underlying = records.underlying(record)
        retireHere(record, at: index)
        inner.close(Handle(bits: underlying))
    }

    /// A handle kept or sent as it is: reported, and nothing is kept or sent.
    mutating func escape(_ bits: UInt64, to route: EscapeRoute) {
        let index = nextIndex()
        guard let found = usable(bits, route.operation, at: index) else { return }
        var record = ViolationRecord(
            kind: .escape, operation: route.operation, thread: threadID, owner: threadID, depth: depth, handle: bits,
            operationIndex: index)
        record.openedAt = records.openedAt(found.record)
        record.handleDepth = Int32(DebugRecords.depth(found.meta))
        file(record)
    }

    /// Handles still open when the thread leaves are leaks; they are closed so counts stay exact.
    mutating func threadExit() {
        if highWater > 0 { expireLeaks(deeperThan: -1, operation: .threadExit, at: operationIndex) }
    }

    /// A fresh open handle to the immortal stand-in, for a `dup` that cannot be done.
    mutating func standInHandle(at index: Int) -> UInt64 {
        makeRecord(inner.open(ObjectRef(word: standIn)).bits, openedAt: index)
    }

    // MARK: Reports

    /// Reports and neutralises every open record made deeper than `minimumDepth`: each is a leak,
    /// closed here and kept in the closed queue as expired.
    @inline(never)
    mutating func expireLeaks(deeperThan minimumDepth: Int, operation: DebugOperation, at index: Int) {
        for record in 0..<highWater {
            let meta = records.meta(record)
            guard DebugRecords.state(meta) == .open, DebugRecords.depth(meta) > minimumDepth else { continue }
            var report = ViolationRecord(
                kind: .leak, operation: operation, thread: threadID, owner: threadID, depth: depth,
                handle: tag | UInt64(record), operationIndex: index)
            report.openedAt = records.openedAt(record)
            report.handleDepth = Int32(DebugRecords.depth(meta))
            file(report)
            let recordDepth = DebugRecords.depth(meta)
            if recordDepth == depth { openHere &-= 1 } else { openAtDepth[recordDepth] &-= 1 }
            records.setMeta(record, meta & ~0xFF | RecordState.expired.rawValue)
            records.setLink(record, index)
            enqueueClosed(record)
            inner.close(Handle(bits: records.underlying(record)))
        }
    }

    @inline(never)
    mutating func reportBorrowed(_ bits: UInt64, _ record: Int, _ meta: UInt64, _ operation: DebugOperation, at index: Int) {
        var report = ViolationRecord(
            kind: .closeBorrowed, operation: operation, thread: threadID, owner: threadID, depth: depth, handle: bits,
            operationIndex: index)
        report.openedAt = records.openedAt(record)
        report.handleDepth = Int32(DebugRecords.depth(meta))
        file(report)
    }

    /// Says why `bits` names no open handle of this context.
    @inline(never)
    mutating func reportUnusable(_ bits: UInt64, _ operation: DebugOperation, at index: Int) {
        var report = ViolationRecord(
            kind: .invalidHandle, operation: operation, thread: threadID, owner: threadID, depth: depth, handle: bits,
            operationIndex: index)
        let record = Int(truncatingIfNeeded: bits & DebugThread.recordMask)
        if bits & ~DebugThread.recordMask != tag {
            if let owner = run.takeUnretainedValue().thread(contextID: Int(truncatingIfNeeded: bits >> 32)) {
                report.kind = .wrongThread
                report.owner = Int32(truncatingIfNeeded: owner.pointee.threadID)
                if record < owner.pointee.records.capacity {
                    let meta = owner.pointee.records.meta(record)
                    if DebugRecords.state(meta) != .unused {
                        report.openedAt = owner.pointee.records.openedAt(record)
                        report.handleDepth = Int32(DebugRecords.depth(meta))
                    }
                }
            }
        } else if record < highWater {
            let meta = records.meta(record)
            report.openedAt = records.openedAt(record)
            report.handleDepth = Int32(DebugRecords.depth(meta))
            switch DebugRecords.state(meta) {
            case .closed:
                report.kind = operation == .close ? .doubleClose : .useAfterClose
                report.closedAt = records.link(record)
            case .expired:
                report.kind = .escape
                report.closedAt = records.link(record)
            case .open, .unused:
                report.openedAt = -1
            }
        }
        file(report)
    }

    /// Counts a report, then stops the program (abort) or keeps it (collect).
    @inline(never)
    mutating func file(_ record: ViolationRecord) {
        var record = record
        record.extensionFunction = chpy_current_function()
        counts[Int(record.kind.code)] += 1
        let run = run.takeUnretainedValue()
        var stack: [String]?
        var opening: [String]?
        if backtraces {
            stack = Backtrace.symbolised(skip: 1)
            record.backtrace = run.keep(stack!)
            let own = Int(truncatingIfNeeded: record.handle & DebugThread.recordMask)
            if record.openedAt >= 0 && record.handle & ~DebugThread.recordMask == tag && own < highWater {
                opening = Backtrace.symbolised(frames: records.openingStack(own))
                record.openingBacktrace = run.keep(opening!)
            }
        }
        if abortOnViolation { DebugRun.stop(with: record.report(backtrace: stack, openingBacktrace: opening)) }
        if reports.count < DebugThread.reportLimit {
            reports.append(record)
        } else {
            reportsDropped += 1
        }
    }
}

/// The inner universal context as the debug entries call it: the table by value.
struct InnerCaller {
    let table: UniversalTable
    let state: UnsafeMutableRawPointer

    @inline(__always) func new(_ object: ObjectRef) -> Handle { Handle(bits: table.new(state, object.word)) }
    @inline(__always) func open(_ object: ObjectRef) -> Handle { Handle(bits: table.open(state, object.word)) }
    @inline(__always) func load(from slot: UnsafeMutablePointer<UInt>) -> Handle {
        Handle(bits: table.load(state, UInt64(UInt(bitPattern: slot))))
    }
    @inline(__always) func adopt(_ object: ObjectRef) -> Handle { Handle(bits: table.adopt(state, object.word)) }
    @inline(__always) func dup(_ handle: Handle) -> Handle { Handle(bits: table.dup(state, handle.bits)) }
    @inline(__always) func close(_ handle: Handle) { _ = table.close(state, handle.bits) }
    @inline(__always) func read(_ handle: Handle) -> UInt64 { table.read(state, handle.bits) }
    @inline(__always) func object(of handle: Handle) -> ObjectRef { ObjectRef(word: table.object(state, handle.bits)) }
    @inline(__always) func retain(_ object: ObjectRef) { _ = table.retain(state, object.word) }
    @inline(__always) func release(_ object: ObjectRef) { _ = table.release(state, object.word) }
    @inline(__always) func transfer(_ handle: Handle) -> ObjectRef { ObjectRef(word: table.transfer(state, handle.bits)) }
    @inline(__always) func returning(_ handle: Handle) -> Handle { Handle(bits: table.returning(state, handle.bits)) }
    @inline(__always) func enterScope() { _ = table.enterScope(state, 0) }
    @inline(__always) func exitScope() { _ = table.exitScope(state, 0) }
}

/// The debug table's entries: each checks that the calling thread owns the context, then goes
/// on to the thread's `DebugThread`.
enum DebugEntries {
    static let table = UniversalTable(
        new: { DebugEntries.new($0, $1) }, open: { DebugEntries.open($0, $1) }, load: { DebugEntries.load($0, $1) },
        dup: { DebugEntries.dup($0, $1) },
        close: { DebugEntries.close($0, $1) }, read: { DebugEntries.read($0, $1) },
        object: { DebugEntries.object($0, $1) }, retain: { DebugEntries.retain($0, $1) },
        release: { DebugEntries.release($0, $1) }, transfer: { DebugEntries.transfer($0, $1) },
        adopt: { DebugEntries.adopt($0, $1) }, returning: { DebugEntries.returning($0, $1) },
        enterScope: { DebugEntries.enterScope($0, $1) }, exitScope: { DebugEntries.exitScope($0, $1) },
        disown: { DebugEntries.disown($0, $1) })

    /// The state, if the calling thread owns it. The thread's serial is read as it is: a thread
    /// that never asked for one reads 0, never an owner's, and takes the slow path, which asks.
    @inline(__always)
    static func owned(_ state: UnsafeMutableRawPointer) -> UnsafeMutablePointer<DebugThread>? {
        let thread = state.assumingMemoryBound(to: DebugThread.self)
        if _fastPath(thread.pointee.serial == crefscale_thread_serial_value) { return thread }
        return thread.pointee.serial == crefscale_thread_serial() ? thread : nil
    }

    @inline(__always)
    static func new(_ state: UnsafeMutableRawPointer, _ object: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .new, 0, result: 0) }
        let index = thread.pointee.nextIndex()
        return thread.pointee.make(thread.pointee.inner.new(ObjectRef(word: object)).bits, at: index)
    }

    @inline(__always)
    static func open(_ state: UnsafeMutableRawPointer, _ object: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .open, 0, result: 0) }
        let index = thread.pointee.nextIndex()
        return thread.pointee.make(thread.pointee.inner.open(ObjectRef(word: object)).bits, at: index)
    }

    @inline(__always)
    /// `slot` is the address of the field or global loaded from.
    static func load(_ state: UnsafeMutableRawPointer, _ slot: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .load, 0, result: 0) }
        let index = thread.pointee.nextIndex()
        return thread.pointee.make(thread.pointee.inner.load(from: UnsafeMutablePointer(bitPattern: UInt(slot))!).bits, at: index)
    }

    @inline(__always)
    static func adopt(_ state: UnsafeMutableRawPointer, _ object: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .adopt, 0, result: 0) }
        let index = thread.pointee.nextIndex()
        return thread.pointee.make(thread.pointee.inner.adopt(ObjectRef(word: object)).bits, at: index)
    }

    @inline(__always)
    static func dup(_ state: UnsafeMutableRawPointer, _ handle: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .dup, handle, result: handle) }
        return thread.pointee.dup(handle)
    }

    @inline(__always)
    static func close(_ state: UnsafeMutableRawPointer, _ handle: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .close, handle, result: 0) }
        thread.pointee.close(handle)
        return 0
    }

    @inline(__always)
    static func read(_ state: UnsafeMutableRawPointer, _ handle: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .read, handle, result: 0) }
        return thread.pointee.read(handle)
    }

    @inline(__always)
    static func object(_ state: UnsafeMutableRawPointer, _ handle: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .object, handle, result: standIn(state)) }
        return thread.pointee.object(handle)
    }

    @inline(__always)
    static func retain(_ state: UnsafeMutableRawPointer, _ object: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .retain, 0, result: 0) }
        _ = thread.pointee.nextIndex()
        thread.pointee.inner.retain(ObjectRef(word: object))
        return 0
    }

    @inline(__always)
    static func release(_ state: UnsafeMutableRawPointer, _ object: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .release, 0, result: 0) }
        _ = thread.pointee.nextIndex()
        thread.pointee.inner.release(ObjectRef(word: object))
        return 0
    }

    @inline(__always)
    static func transfer(_ state: UnsafeMutableRawPointer, _ handle: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .transfer, handle, result: standIn(state)) }
        return thread.pointee.transfer(handle)
    }

    @inline(__always)
    static func returning(_ state: UnsafeMutableRawPointer, _ handle: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .returning, handle, result: handle) }
        return thread.pointee.returning(handle)
    }

    @inline(__always)
    static func enterScope(_ state: UnsafeMutableRawPointer, _: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .enterScope, 0, result: 0) }
        thread.pointee.enterScope()
        return 0
    }

    @inline(__always)
    static func exitScope(_ state: UnsafeMutableRawPointer, _: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .exitScope, 0, result: 0) }
        thread.pointee.exitScope()
        return 0
    }

    static func disown(_ state: UnsafeMutableRawPointer, _ handle: UInt64) -> UInt64 {
        guard let thread = owned(state) else { return wrongContext(state, .close, handle, result: 1) }
        thread.pointee.disown(handle)
        return 1
    }

    static func escape(_ state: UnsafeMutableRawPointer, _ handle: UInt64, to route: EscapeRoute) {
        guard let thread = owned(state) else { _ = wrongContext(state, route.operation, handle, result: 0); return }
        thread.pointee.escape(handle, to: route)
    }

    static func threadExit(_ state: UnsafeMutableRawPointer) {
        guard let thread = owned(state) else { _ = wrongContext(state, .threadExit, 0, result: 0); return }
        thread.pointee.threadExit()
        if crefscale_thread_debug_current() == state { crefscale_thread_set_debug_current(nil) }
    }

    static func standIn(_ state: UnsafeMutableRawPointer) -> UInt64 {
        state.assumingMemoryBound(to: DebugThread.self).pointee.standIn
    }

    /// A call on the context `state` by a thread that does not own it: reported in the calling
    /// thread's own debug context (or, if it has none, in the run's), never in the owner's, whose
    /// fields are read but not written. The call does nothing; `result` goes back to the kernel.
    @inline(never)
    static func wrongContext(_ state: UnsafeMutableRawPointer, _ operation: DebugOperation, _ handle: UInt64, result: UInt64) -> UInt64 {
        let owner = state.assumingMemoryBound(to: DebugThread.self)
        var report = ViolationRecord(
            kind: .wrongContext, operation: operation, thread: Int(crefscale_thread_slot()), owner: owner.pointee.threadID,
            depth: -1, handle: handle, operationIndex: -1)
        if let current = crefscale_thread_debug_current() {
            let caller = current.assumingMemoryBound(to: DebugThread.self)
            report.thread = Int32(truncatingIfNeeded: caller.pointee.threadID)
            report.operationIndex = caller.pointee.nextIndex()
            report.depth = Int32(truncatingIfNeeded: caller.pointee.depth)
            caller.pointee.file(report)
        } else {
            owner.pointee.run.takeUnretainedValue().fileOrphan(report)
        }
        return result
    }
}
