@testable import RefScale

/// A deterministic scheduler that runs `BiasedCounting`'s own steps — the code `biased` runs
/// on real atomics — for two threads on one object, in every order their memory accesses
/// allow, and checks each order.
///
/// How a thread is stopped between two accesses without a second OS thread: the steps run
/// over `ScheduledBiasedMemory`, whose every access either replays a value the thread read
/// earlier in the same operation, performs the next access on the model, or throws to stop
/// the thread there. To take one more step, a thread's operation is run again from its start:
/// its earlier accesses are replayed (the code is deterministic, so it takes the same path),
/// one new access is performed, and the operation is stopped at the access after it. A thread
/// waiting for a bucket's mutex another thread holds is not scheduled (`PyMutex_Lock` parks).
///
/// A state is the model memory plus, per thread, its operation and the values it has read in
/// it; every access advances some thread, so the states form a DAG. The search visits each
/// state once and counts the schedules (paths from the start to an end) through them.
/// Checked: on every access, that the object is not touched after it was freed and not freed
/// twice; at every end, the case's expectation (freed exactly once, or the references left);
/// everywhere, that some thread can move (no deadlock).
struct BiasedInterleavingChecker {
    /// One thread's operation on the model: a closure over the steps.
    typealias Step = (inout ScheduledBiasedMemory) throws(ScheduledBiasedMemory.Stop) -> Void

    struct Case {
        var name: String
        var initial: ModelMemory
        /// The operations of thread 1 (the owner) and thread 2.
        var operations: [[Step]]
        /// The references left when every operation has run: 0 means the object must have been
        /// freed exactly once.
        var referencesLeft: Int
    }

    struct Outcome {
        var states = 0
        var schedules = 0
        /// The first problem found, with the schedule that led to it (thread of each access).
        var failure: String?
    }

    struct ThreadProgress: Hashable {
        var operation = 0
        var log: [Int] = []
    }

    struct World: Hashable {
        var memory: ModelMemory
        var threads: [ThreadProgress]
    }

    let testCase: Case

    /// Runs thread `thread` (0 or 1) from `world` for one access; nil when it must wait.
    func step(_ world: World, thread: Int) -> (World, violation: String?)? {
        var memory = ScheduledBiasedMemory(
            model: world.memory, thread: UInt(thread + 1), log: world.threads[thread].log)
        let operation = testCase.operations[thread][world.threads[thread].operation]
        do {
            try operation(&memory)
        } catch {
            if memory.performed == 0 { return nil }
            var next = world
            next.memory = memory.model
            next.threads[thread].log = memory.log
            return (next, memory.violation)
        }
        var next = world
        next.memory = memory.model
        next.threads[thread] = ThreadProgress(operation: world.threads[thread].operation + 1)
        return (next, memory.violation)
    }

    func isDone(_ world: World) -> Bool {
        world.threads.indices.allSatisfy { world.threads[$0].operation == testCase.operations[$0].count }
    }

    func checkEnd(_ memory: ModelMemory) -> String? {
        if testCase.referencesLeft == 0 {
            if memory.timesFreed != 1 { return "every reference dropped, but the object was freed \(memory.timesFreed) times (lost count)" }
        } else {
            if memory.timesFreed != 0 { return "freed with \(testCase.referencesLeft) reference(s) left" }
            let count = memory.local == BiasedCounting.immortalLocal ? -1 : (memory.shared >> BiasedCounting.flagBits) + Int(memory.local)
            if count != testCase.referencesLeft { return "count \(count) at the end, expected \(testCase.referencesLeft) (lost count)" }
        }
        if memory.queues.contains(where: { !$0.isEmpty }) || memory.taken.contains(where: { !$0.isEmpty }) {
            return "the object is still queued at the end"
        }
        return nil
    }

    /// Explores every schedule.
    func run() -> Outcome {
        let start = World(memory: testCase.initial, threads: Array(repeating: ThreadProgress(), count: testCase.operations.count))
        var schedules: [World: Int] = [:]
        var outcome = Outcome()

        // Depth-first, iterative: a frame is a world, its successors, and the trace that reached it.
        struct Frame {
            var world: World
            var successors: [World]
            var next = 0
            var total = 0
        }
        struct Problem: Error { var text: String }
        var trace: [Int] = []
        func expand(_ world: World) -> Result<[World], Problem> {
            if isDone(world) {
                if let problem = checkEnd(world.memory) { return .failure(Problem(text: problem)) }
                return .success([])
            }
            var successors: [World] = []
            for thread in world.threads.indices where world.threads[thread].operation < testCase.operations[thread].count {
                guard let (next, violation) = step(world, thread: thread) else { continue }
                if let violation { return .failure(Problem(text: "thread \(thread + 1): \(violation)")) }
                successors.append(next)
            }
            if successors.isEmpty { return .failure(Problem(text: "deadlock: no thread can move")) }
            return .success(successors)
        }
        func describe(_ problem: Problem, _ world: World) -> String {
            "\(testCase.name): \(problem.text); schedule (thread of each access): \(trace.map { String($0 + 1) }.joined())"
        }

        var stack: [Frame] = []
        switch expand(start) {
        case .failure(let problem):
            outcome.failure = describe(problem, start)
            return outcome
        case .success(let successors):
            stack.append(Frame(world: start, successors: successors))
        }
        while !stack.isEmpty {
            let top = stack.count - 1
            if stack[top].successors.isEmpty && stack[top].next == 0 && stack[top].total == 0 {
                stack[top].total = 1  // an end state: one schedule
            }
            if stack[top].next == stack[top].successors.count {
                let finished = stack.removeLast()
                schedules[finished.world] = finished.total
                outcome.states += 1
                if !stack.isEmpty {
                    stack[stack.count - 1].total += finished.total
                    trace.removeLast()
                }
                continue
            }
            let successor = stack[top].successors[stack[top].next]
            stack[top].next += 1
            let movedThread = successor.threads.indices.first { successor.threads[$0] != stack[top].world.threads[$0] }!
            if let known = schedules[successor] {
                stack[top].total += known
                continue
            }
            trace.append(movedThread)
            switch expand(successor) {
            case .failure(let problem):
                outcome.failure = describe(problem, successor)
                return outcome
            case .success(let successors):
                stack.append(Frame(world: successor, successors: successors))
            }
        }
        outcome.schedules = schedules[start] ?? 0
        return outcome
    }
}

/// The memory of the checker's model: one object (id 0) and the queues of threads 1 and 2.
struct ModelMemory: Hashable {
    var ownerThread: UInt
    var local: UInt32
    var shared: Int
    var timesFreed = 0
    /// Per thread ID (index 0 unused): the holder of the bucket's mutex (0 = free), whether the
    /// thread is in its bucket, its queue, its taken stack, its eval-breaker merge bit.
    var bucketHolder: [UInt] = [0, 0, 0]
    var registered: [Bool] = [false, true, true]
    var queues: [[Int]] = [[], [], []]
    var taken: [[Int]] = [[], [], []]
    var mergeBits: [Bool] = [false, false, false]

    init(owner: UInt, local: UInt32, shared: Int) {
        ownerThread = owner
        self.local = local
        self.shared = shared
    }
}

/// `BiasedMemory` for the checker: each access replays, performs, or stops (see
/// `BiasedInterleavingChecker`).
struct ScheduledBiasedMemory: BiasedMemory {
    typealias Object = Int
    enum Stop: Error { case here }
    typealias Interruption = Stop

    var model: ModelMemory
    let thread: UInt
    /// The values this operation read so far (0 for a write), one per access.
    var log: [Int]
    var position = 0
    /// Accesses performed (not replayed) in this run: at most one.
    var performed = 0
    var violation: String?

    init(model: ModelMemory, thread: UInt, log: [Int]) {
        self.model = model
        self.thread = thread
        self.log = log
    }

    /// One access: replayed if the operation made it before, else performed if none has been
    /// in this run, else the thread stops here. `touchesObject`: an access to the object's
    /// memory, which must not follow its free.
    mutating func access(_ what: String, touchesObject: Bool, blocked: Bool = false, _ perform: (inout ModelMemory) -> Int) throws(Stop) -> Int {
        if position < log.count {
            position += 1
            return log[position - 1]
        }
        if performed > 0 || blocked { throw .here }
        if touchesObject && model.timesFreed > 0 && violation == nil { violation = "\(what) after the object was freed" }
        let value = perform(&model)
        log.append(value)
        position += 1
        performed += 1
        return value
    }

    mutating func ownerThread(_ object: Int) throws(Stop) -> UInt {
        UInt(try access("read of ob_tid", touchesObject: true) { Int($0.ownerThread) })
    }
    mutating func setOwnerThread(_ object: Int, _ thread: UInt) throws(Stop) {
        _ = try access("write of ob_tid", touchesObject: true) { $0.ownerThread = thread; return 0 }
    }
    mutating func localCount(_ object: Int) throws(Stop) -> UInt32 {
        UInt32(try access("read of ob_ref_local", touchesObject: true) { Int($0.local) })
    }
    mutating func setLocalCount(_ object: Int, _ count: UInt32) throws(Stop) {
        _ = try access("write of ob_ref_local", touchesObject: true) { $0.local = count; return 0 }
    }
    mutating func sharedCount(_ object: Int) throws(Stop) -> Int {
        try access("read of ob_ref_shared", touchesObject: true) { $0.shared }
    }
    mutating func sharedCountAcquiring(_ object: Int) throws(Stop) -> Int { try sharedCount(object) }
    mutating func compareExchangeShared(_ object: Int, expected: Int, desired: Int) throws(Stop) -> (exchanged: Bool, original: Int) {
        let original = try access("CAS of ob_ref_shared", touchesObject: true) { model in
            let original = model.shared
            if original == expected { model.shared = desired }
            return original
        }
        return (original == expected, original)
    }
    mutating func addShared(_ object: Int, _ delta: Int) throws(Stop) {
        _ = try access("atomic add to ob_ref_shared", touchesObject: true) { $0.shared &+= delta; return 0 }
    }
    mutating func free(_ object: Int, counters: inout SchemeCounters) throws(Stop) {
        var doubleFree = false
        _ = try access("free", touchesObject: false) { model in
            doubleFree = model.timesFreed > 0
            model.timesFreed += 1
            return 0
        }
        if doubleFree && violation == nil { violation = "the object was freed twice" }
    }
    mutating func lockBucket(of thread: UInt, counters: inout SchemeCounters) throws(Stop) {
        let me = self.thread
        _ = try access("lock", touchesObject: false, blocked: model.bucketHolder[Int(thread)] != 0) { $0.bucketHolder[Int(thread)] = me; return 0 }
    }
    mutating func unlockBucket(of thread: UInt) throws(Stop) {
        _ = try access("unlock", touchesObject: false) { $0.bucketHolder[Int(thread)] = 0; return 0 }
    }
    mutating func isRegistered(_ thread: UInt) throws(Stop) -> Bool {
        try access("find_thread_state", touchesObject: false) { $0.registered[Int(thread)] ? 1 : 0 } != 0
    }
    mutating func setRegistered(_ thread: UInt, _ registered: Bool) throws(Stop) {
        _ = try access("registration", touchesObject: false) { $0.registered[Int(thread)] = registered; return 0 }
    }
    mutating func push(_ object: Int, ontoQueueOf thread: UInt) throws(Stop) {
        _ = try access("push", touchesObject: false) { $0.queues[Int(thread)].append(object); return 0 }
    }
    mutating func takeQueue(of thread: UInt) throws(Stop) -> Bool {
        try access("take", touchesObject: false) { model in
            let tookAny = !model.queues[Int(thread)].isEmpty
            model.taken[Int(thread)] += model.queues[Int(thread)]
            model.queues[Int(thread)] = []
            return tookAny ? 1 : 0
        } != 0
    }
    mutating func popTaken(of thread: UInt) throws(Stop) -> Int? {
        let object = try access("pop", touchesObject: false) { $0.taken[Int(thread)].popLast() ?? -1 }
        return object < 0 ? nil : object
    }
    mutating func requestMerge(of thread: UInt) throws(Stop) {
        _ = try access("eval-breaker OR", touchesObject: false) { $0.mergeBits[Int(thread)] = true; return 0 }
    }
    mutating func mergeRequested(of thread: UInt) throws(Stop) -> Bool {
        try access("eval-breaker load", touchesObject: false) { $0.mergeBits[Int(thread)] ? 1 : 0 } != 0
    }
    mutating func clearMergeRequest(of thread: UInt) throws(Stop) {
        _ = try access("eval-breaker AND", touchesObject: false) { $0.mergeBits[Int(thread)] = false; return 0 }
    }
}
