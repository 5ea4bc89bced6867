/// The mapping of a recorded trace (`Trace`) onto the workers of a run: which traced thread each
/// worker replays, which pool object stands for each object of the trace, and the operations each
/// event becomes. README.md ("Replaying a trace") states the rules for users; this comment states
/// them for the code.
///
/// Objects:
/// - *transient*: born in the trace, counted by one traced thread only, never at count 0 except
///   at the decrement its death follows, not immortal and not changed by a what-if. Each pass
///   allocates it at its birth from the worker's region of the pool (`createNamed`), as
///   CPython's allocator gives it a free block, and the stream reaches it by a name, not a pool
///   index: the allocator reuses only memory the scheme has freed, so an object a scheme keeps
///   after its last reference (lazy `handle-local`'s table, `arena`'s scope) keeps its memory, and
///   the next birth gets other memory. The decrement that took it to 0 in CPython ends its last
///   reference; one still alive at the end of its thread's events is released at the end of the
///   pass (a death the trace did not see).
/// - *resident*: every other object — alive before the trace (its `firstCount`), counted by more
///   than one traced thread, never freed in the trace in a way one thread can replay, immortal
///   in CPython 3.12+, or changed by a what-if. It is born once, before the start barrier, by the
///   worker that replays the traced thread that counted it first (so `biased` makes that worker
///   its owner), and kept alive by one reference in a global slot that the main thread ends
///   after every worker has returned. Its births and deaths in the trace are not replayed: a
///   birth becomes the first reference its thread takes (an increment at the birth's site), a
///   death nothing.
///
/// Events (each worker's events in the program's order, `Trace.forEachInProgramOrder`):
/// - an increment at an extension site is a handle operation: `dup` of a handle the worker
///   holds to the object, else `open`; its decrement closes the handle the worker took last;
/// - an increment at the interpreter site is the runtime's own count, a non-local reference
///   (`retain`); its decrement ends one (`release`), or closes a handle if the worker holds no
///   non-local reference to the object but a handle;
/// - a decrement of a reference the worker never took — one another thread took (through a
///   container, a global, a queue) or one that predates the trace — ends a *loan*: a non-local
///   reference to a resident object taken for the worker before the start barrier by the
///   object's bearer, and ended by the worker after the run. Loans are the deepest such deficit
///   of one pass, so no interleaving of the workers brings a resident object to 0;
/// - at the end of a pass the worker closes its handles still open and puts its non-local
///   references back as they were at the pass's start: references it took and another thread
///   dropped are ended, references it dropped and another took are taken again. These
///   *balancing* operations are the price of passes that repeat; `balancingOperations` counts them;
/// - `--trace-sites all-handles` makes every event an extension event (the upper bound of a
///   handle design); a `deferred` what-if drops the interpreter's increments and decrements of
///   the object (CPython 3.14's deferred counting: the stack's references are not counted).
///
/// Workers: with as many workers as traced threads, worker `i` replays traced thread `i`; with
/// fewer, worker `i` replays the traced threads `j` with `j % workers == i`, their events merged
/// in the program's order; with more, a multiple of them, the trace is replicated: worker `i` is
/// traced thread `i % traced` of replica `i / traced`, objects counted by one traced thread are
/// copied per replica, objects counted by several stay shared.
public struct TraceReplay: Sendable {
    /// Which events are handle operations.
    public enum Sites: String, CaseIterable, Sendable, OptionValueConvertible {
        /// Extension events are handle operations, interpreter events the runtime's own counts.
        case asRecorded = "as-recorded"
        /// Every event is a handle operation.
        case allHandles = "all-handles"
    }

    public let trace: Trace
    public let sites: Sites
    public let change: TraceWhatIf.Resolved
    /// Per object of the trace.
    public let isTransient: [Bool]
    public let flags: [ObjectFlags]
    /// The traced thread that counted the object first, and how many traced threads counted it.
    public let firstThread: [Int]
    public let threadCount: [Int]
    /// Increments and decrements of each object, in all threads.
    public let operations: [Int]

    /// Type names whose objects CPython 3.14 gives a unique id (heap types, code objects): the
    /// objects `perthread` counts per thread, marked `ObjectFlags.shared`.
    public static let uniqueIDTypes: Set<String> = ["type", "code"]

    public init(trace: Trace, sites: Sites, change: TraceWhatIf.Resolved) {
        self.trace = trace
        self.sites = sites
        self.change = change
        let count = trace.objects.count
        var counted = [Int](repeating: 0, count: count)
        var lastThread = [Int](repeating: -1, count: count)
        for (index, thread) in trace.threads.enumerated() {
            for event in thread.events where lastThread[Int(event.object)] != index {
                lastThread[Int(event.object)] = index
                counted[Int(event.object)] += 1
            }
        }
        var firstThread = [Int](repeating: -1, count: count)
        var operations = [Int](repeating: 0, count: count)
        var referenceCount = trace.objects.map(\.firstCount)
        var transient = (0 ..< count).map {
            trace.objects[$0].firstCount == 0 && !trace.objects[$0].immortalIn312 && counted[$0] == 1
                && !change.immortal[$0] && !change.deferred[$0]
        }
        // The count reached 0 at a decrement: only the death may follow.
        var awaitingDeath = [Bool](repeating: false, count: count)
        trace.forEachInProgramOrder { thread, event in
            let object = Int(event.object)
            if firstThread[object] < 0 {
                firstThread[object] = thread
                if event.kind != .birth { transient[object] = false }
            } else if event.kind == .birth {
                transient[object] = false
            }
            if awaitingDeath[object] && event.kind != .death { transient[object] = false }
            switch event.kind {
            case .birth: referenceCount[object] = 1
            case .incref:
                referenceCount[object] += 1
                operations[object] += 1
            case .decref:
                referenceCount[object] -= 1
                operations[object] += 1
                if referenceCount[object] == 0 { awaitingDeath[object] = true }
                if referenceCount[object] < 0 { transient[object] = false }
            case .death:
                if referenceCount[object] != 0 { transient[object] = false }
            }
        }
        var flags = [ObjectFlags](repeating: [], count: count)
        for object in 0 ..< count {
            if trace.objects[object].immortalIn312 || change.immortal[object] { flags[object].insert(.immortal) }
            if !transient[object] && Self.uniqueIDTypes.contains(trace.types[trace.objects[object].typeIndex]) {
                flags[object].insert(.shared)
            }
            if !transient[object] && TraceWhatIf.typeLikeTypes.contains(trace.types[trace.objects[object].typeIndex]) {
                flags[object].insert(.deferred)
            }
        }
        self.firstThread = firstThread
        self.threadCount = counted
        self.operations = operations
        self.isTransient = transient
        self.flags = flags
    }

    public var tracedThreads: Int { trace.threads.count }

    /// Objects counted by exactly one traced thread: the ones a replica copies.
    public var singleThreadObjects: Int { threadCount.reduce(0) { $0 + ($1 == 1 ? 1 : 0) } }

    /// Why `threads` workers cannot replay this trace, or nil.
    public func problem(threads: Int) -> String? {
        let traced = tracedThreads
        if traced == 0 { return "the trace holds no thread" }
        if threads > traced && threads % traced != 0 {
            return "--threads \(threads) cannot replicate a trace of \(traced) threads: give at most \(traced), or a multiple of \(traced)"
        }
        return nil
    }

    /// Replicas of the trace a run of `threads` workers makes.
    public func replicas(threads: Int) -> Int { threads > tracedThreads ? threads / tracedThreads : 1 }

    /// The traced threads worker `worker` replays, and its replica.
    public func assignment(worker: Int, threads: Int) -> (tracedThreads: [Int], replica: Int) {
        let traced = tracedThreads
        if threads >= traced { return ([worker % traced], worker / traced) }
        return (Array(stride(from: worker, to: traced, by: threads)), 0)
    }
}

/// Where each resident object of the trace lives in the pool, for one thread count: objects
/// counted by several traced threads first (one copy), then one block per replica of the
/// others. Transient objects live in the workers' regions (`createNamed`).
struct TraceLayout {
    let replicas: Int
    let sharedCount: Int
    let residentSingles: Int
    /// Per object: its index among the shared objects, or among one replica's resident singles.
    let slot: [Int]
    let isShared: [Bool]

    init(_ replay: TraceReplay, threads: Int) {
        replicas = replay.replicas(threads: threads)
        var shared = 0, single = 0
        var slot = [Int](repeating: 0, count: replay.trace.objects.count)
        var isShared = [Bool](repeating: false, count: slot.count)
        for object in slot.indices where !replay.isTransient[object] {
            if replay.threadCount[object] > 1 {
                isShared[object] = true
                slot[object] = shared
                shared += 1
            } else {
                slot[object] = single
                single += 1
            }
        }
        sharedCount = shared
        residentSingles = single
        self.slot = slot
        self.isShared = isShared
    }

    var poolSize: Int { sharedCount + replicas * residentSingles }

    func poolIndex(_ object: Int, replica: Int) -> Int {
        isShared[object] ? slot[object] : sharedCount + replica * residentSingles + slot[object]
    }
}

/// One worker group's replay (a traced thread, or the traced threads folded into one worker),
/// with objects named by their trace numbers: `TraceStreams` renames them per replica.
struct GroupStream {
    /// `new`, `open`, `retain` and `release` carry the trace's object number as their source, or
    /// for a transient object its name (`Operation.named`).
    var pass: [Operation] = []
    var registers = 1
    /// Loans: (object, references) this group ends after the run.
    var loans: [(object: Int, count: Int)] = []
    var balancingOperations = 0
    var events = 0
    /// Births per pass of the objects given each name.
    var nameBirths: [Int] = []
}

extension TraceReplay {
    /// The fewest events between two scope boundaries a pass inserts to recycle names.
    static let scopeSplitEvents = 256

    /// Builds the operations of the workers that replay `threads` (traced thread numbers).
    ///
    /// Transient objects are allocated at run time from the worker's region and reached by names,
    /// which the pass recycles: a birth takes the name freed last. A name becomes free after a
    /// scope boundary — an `exit` and an `enter` the pass inserts where the worker holds no
    /// handle, at least `scopeSplitEvents` events after the last — so a call-scoped scheme
    /// (`arena`) frees what a scope made at its exit, and the objects alive at once, hence the
    /// region, stay as few as the names. Where the memory of the next birth comes from is the
    /// allocator's choice at run time: the block freed last (as CPython's pymalloc and mimalloc
    /// take it), never one a scheme still holds.
    func groupStream(threads group: [Int]) -> GroupStream {
        let objectCount = trace.objects.count
        var stream = GroupStream()
        var ops: [Operation] = []
        ops.reserveCapacity(group.reduce(0) { $0 + trace.threads[$1].events.count } + 2)
        ops.append(.enter)
        // Handles held, per object: the register of the latest, then a chain through `below`.
        var topHandle = [Int32](repeating: -1, count: objectCount)
        var below = [Int32](repeating: -1, count: Operation.registerLimit)
        var freeRegisters: [Int32] = []
        var nextRegister: Int32 = 0
        var nonLocal = [Int32](repeating: 0, count: objectCount)
        var lowestNonLocal = [Int32](repeating: 0, count: objectCount)
        var touched: [Int] = []
        var isTouched = [Bool](repeating: false, count: objectCount)
        var heldHandles = 0
        var nameOf = [Int32](repeating: -1, count: objectCount)
        var freeNames: [Int32] = []
        var diedInScope: [Int32] = []
        var eventsInScope = 0
        /// The source naming an object: its number, or for a transient object its name.
        func name(_ object: Int) -> Int { isTransient[object] ? Operation.named(Int(nameOf[object])) : object }

        func takeRegister() -> Int32? {
            if let register = freeRegisters.popLast() { return register }
            guard nextRegister < Int32(Operation.registerLimit) else { return nil }
            defer { nextRegister += 1 }
            return nextRegister
        }
        func retain(_ object: Int) {
            ops.append(.retain(object: name(object)))
            nonLocal[object] += 1
        }
        func release(_ object: Int) {
            ops.append(.release(object: name(object)))
            nonLocal[object] -= 1
            if nonLocal[object] < lowestNonLocal[object] { lowestNonLocal[object] = nonLocal[object] }
        }
        func closeLatestHandle(_ object: Int) {
            let register = topHandle[object]
            ops.append(.close(Int(register)))
            topHandle[object] = below[Int(register)]
            freeRegisters.append(register)
            heldHandles -= 1
        }
        func takeHandle(_ object: Int, born: Bool) {
            guard let register = takeRegister() else {
                precondition(!born, "trace replay: no register left for a birth")
                retain(object)
                return
            }
            if born {
                if let name = freeNames.popLast() {
                    nameOf[object] = name
                } else {
                    nameOf[object] = Int32(stream.nameBirths.count)
                    stream.nameBirths.append(0)
                }
                stream.nameBirths[Int(nameOf[object])] += 1
                ops.append(.createNamed(Int(nameOf[object]), into: Int(register), flags: flags[object]))
            } else if topHandle[object] >= 0 {
                ops.append(.dup(Int(topHandle[object]), into: Int(register)))
            } else {
                ops.append(.open(object: name(object), into: Int(register)))
            }
            below[Int(register)] = topHandle[object]
            topHandle[object] = register
            heldHandles += 1
        }

        forEachInProgramOrder(threads: group) { event in
            let object = Int(event.object)
            if !isTouched[object] {
                isTouched[object] = true
                touched.append(object)
            }
            stream.events += 1
            let isHandleEvent = sites == .allHandles || event.site == .extensionModule
            if change.deferred[object] && !isHandleEvent { return }
            switch event.kind {
            case .birth:
                if isTransient[object] {
                    takeHandle(object, born: true)
                } else if isHandleEvent {
                    takeHandle(object, born: false)
                } else {
                    retain(object)
                }
            case .incref:
                if isHandleEvent { takeHandle(object, born: false) } else { retain(object) }
            case .decref:
                if isHandleEvent {
                    if topHandle[object] >= 0 { closeLatestHandle(object) } else { release(object) }
                } else if nonLocal[object] > 0 || topHandle[object] < 0 {
                    release(object)
                } else {
                    closeLatestHandle(object)
                }
            case .death:
                if isTransient[object] { diedInScope.append(nameOf[object]) }
            }
            eventsInScope += 1
            if heldHandles == 0 && eventsInScope >= Self.scopeSplitEvents && !diedInScope.isEmpty {
                ops += [.exit, .enter]
                freeNames += diedInScope.reversed()
                diedInScope.removeAll(keepingCapacity: true)
                eventsInScope = 0
            }
        }
        let beforeBalancing = ops.count
        for object in touched {
            while topHandle[object] >= 0 { closeLatestHandle(object) }
            while nonLocal[object] > 0 { release(object) }
            while nonLocal[object] < 0 {
                ops.append(.retain(object: object))
                nonLocal[object] += 1
            }
            if lowestNonLocal[object] < 0 { stream.loans.append((object, Int(-lowestNonLocal[object]))) }
        }
        stream.balancingOperations = ops.count - beforeBalancing
        ops.append(.exit)
        stream.pass = ops
        stream.registers = max(1, Int(nextRegister))
        return stream
    }

    /// Calls `body` with each event of the traced threads `group`, in the program's order.
    func forEachInProgramOrder(threads group: [Int], _ body: (TraceEvent) -> Void) {
        var runs: [(start: Int, thread: Int, first: Int, count: Int)] = []
        for thread in group {
            var first = 0
            for segment in trace.threads[thread].segments {
                runs.append((segment.start, thread, first, segment.count))
                first += segment.count
            }
        }
        runs.sort { $0.start < $1.start }
        for run in runs {
            trace.threads[run.thread].events.withUnsafeBufferPointer { events in
                for index in run.first ..< run.first + run.count { body(events[index]) }
            }
        }
    }
}

/// Every worker's program for one thread count, built once and kept by the workload.
struct TraceStreams {
    let layout: TraceLayout
    let main: ThreadProgram
    let workers: [ThreadProgram]
    /// Per worker: the transient objects it allocates in a pass, and the most of them alive at
    /// once in the stream (its names).
    let transientBirthsPerPass: [Int]
    let transientNames: [Int]
    /// Pool objects born before the start barrier, kept alive by the run.
    let residentObjects: [Int]
    /// The trace object each pool object stands for (transient objects live in the workers'
    /// regions, beyond the pool's fixed objects).
    let objectOfPool: [Int]
    let balancingOperations: Int
    let events: Int

    init(_ replay: TraceReplay, threads: Int) {
        let groupCount = min(threads, replay.tracedThreads)
        let groups = (0 ..< groupCount).map { replay.groupStream(threads: replay.assignment(worker: $0, threads: threads).tracedThreads) }
        let layout = TraceLayout(replay, threads: threads)
        self.layout = layout

        // Loans of every worker, by pool object: what each bearer takes before the barrier.
        var loansByPoolObject: [Int: Int] = [:]
        for worker in 0 ..< threads {
            let (_, replica) = replay.assignment(worker: worker, threads: threads)
            for loan in groups[worker % groupCount].loans {
                loansByPoolObject[layout.poolIndex(loan.object, replica: replica), default: 0] += loan.count
            }
        }
        var bearer: [Int: Int] = [:]
        var residents: [Int] = []
        var objectOfPool = [Int](repeating: -1, count: layout.poolSize)
        for object in replay.trace.objects.indices where !replay.isTransient[object] && replay.firstThread[object] >= 0 {
            let first = replay.firstThread[object]
            for replica in 0 ..< (layout.isShared[object] ? 1 : layout.replicas) {
                let worker = threads >= replay.tracedThreads ? replica * replay.tracedThreads + first : first % threads
                let pool = layout.poolIndex(object, replica: replica)
                bearer[pool] = worker
                residents.append(pool)
                objectOfPool[pool] = object
            }
        }
        residents.sort()
        residentObjects = residents
        self.objectOfPool = objectOfPool
        var setups = [[Operation]](repeating: [], count: threads)
        for pool in residents {
            let worker = bearer[pool]!
            setups[worker] += [.new(object: pool, into: 0, flags: replay.flags[objectOfPool[pool]]), .store(0, into: .global(pool)), .close(0)]
            setups[worker] += Array(repeating: Operation.retain(object: pool), count: loansByPoolObject[pool] ?? 0)
        }

        var workers: [ThreadProgram] = []
        var balancing = 0, events = 0
        for worker in 0 ..< threads {
            let (_, replica) = replay.assignment(worker: worker, threads: threads)
            let groupIndex = worker % groupCount
            let group = groups[groupIndex]
            balancing += group.balancingOperations
            events += group.events
            func pool(_ source: Int) -> Int {
                source & Operation.namedBit != 0 ? source : layout.poolIndex(source, replica: replica)
            }
            let pass = group.pass.map { Self.renamed($0, pool) }
            let teardown = group.loans.flatMap { loan in
                Array(repeating: Operation.release(object: layout.poolIndex(loan.object, replica: replica)), count: loan.count)
            }
            workers.append(
                ThreadProgram(
                    registers: group.registers, names: group.nameBirths.count, setup: setups[worker], pass: pass,
                    teardown: teardown))
        }
        self.workers = workers
        transientBirthsPerPass = (0 ..< threads).map { groups[$0 % groupCount].nameBirths.reduce(0, +) }
        transientNames = (0 ..< threads).map { groups[$0 % groupCount].nameBirths.count }
        balancingOperations = balancing
        self.events = events
        main = ThreadProgram(teardown: residents.map { .clear(.global($0)) })
    }

    /// The operation with a source naming a trace object renamed to its pool object; a name stays.
    static func renamed(_ operation: Operation, _ pool: (Int) -> Int) -> Operation {
        switch operation.code {
        case Operation.Code.new.rawValue:
            .new(object: pool(operation.source), into: operation.register, flags: operation.flags)
        case Operation.Code.open.rawValue:
            .open(object: pool(operation.source), into: operation.register)
        case Operation.Code.retain.rawValue:
            .retain(object: pool(operation.source))
        case Operation.Code.release.rawValue:
            .release(object: pool(operation.source))
        default:
            operation
        }
    }
}
