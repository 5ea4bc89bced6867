/// `stress`: the streams of `refscale stress`, not a workload of the registry. Each worker makes
/// random but legal extension calls — nested scopes that dup, read, open globals, load and store
/// fields, create objects, close what they made and return one handle to the caller — and,
/// between legal operations, injects breaches of the handle contract of the kinds asked for, at
/// points it records (`StressExpectations`). Every injected operation is an extra one: under the
/// debug context in collect mode it is reported and neutralised, and the legal stream around it
/// is left as it was, so the run's count checks hold.
///
/// What each kind injects (at scope depth 1 or more):
/// - wrong-thread: a read of the handle the previous thread published (`readForeignHandle`);
/// - use-after-close, double-close: a dup closed at once, then read, or closed again;
/// - leak: a dup never closed; reported at its scope's exit;
/// - escape: a dup kept past its scope's exit and read after it (also a leak at the exit), or a
///   handle stored into a field or a global, or sent, unconverted;
/// - close-borrowed: an outer scope's handle closed, or returned, by an inner scope;
/// - wrong-context: a read through the context the next thread published.
///
/// The stream depends only on the seed, the thread, the thread count and the kinds, so a seed
/// reproduces every round.
public struct StressWorkload: Workload {
    public static let name = "stress"
    public static let summary = "random legal handle operations with contract violations injected at known points"
    public static let sharesObjects = true

    /// The kinds injected; `wrong-thread` and `wrong-context` need two threads or more.
    public let inject: [ViolationKind]
    public var objects: Int { StressWorkload.globalCount }

    static let globalCount = 4
    static let heldCount = 4
    static let workingRegisters = 48
    static let fieldCount = 4
    static let maxDepth = 4
    /// Context calls per pass, about; and the fewest injections per pass for each kind.
    static let passCalls = 8192
    static let injectionsPerKind = 2

    public init(options: OptionValues) throws { inject = ViolationKind.injectable }

    public init(inject: [ViolationKind]) { self.inject = inject }

    /// The kinds this run can inject with `threads` threads.
    public func injectable(threads: Int) -> [ViolationKind] {
        inject.filter { threads > 1 || ($0 != .wrongThread && $0 != .wrongContext) }
    }

    public func poolSize(threads: Int) -> Int { StressWorkload.globalCount + threads * StressWorkload.heldCount }
    public func regionSize(threads: Int) -> Int { 256 }
    public func globals(threads: Int) -> Int { StressWorkload.globalCount }
    public func mailboxes(threads: Int) -> Int { threads }

    /// The main thread makes the globals (the first immortal) and releases them at the end.
    public func mainProgram(threads: Int, seed: UInt64) -> ThreadProgram {
        let setup = (0..<StressWorkload.globalCount).flatMap { global -> [Operation] in
            [.new(object: global, into: 0, flags: global == 0 ? [.shared, .immortal] : .shared), .store(0, into: .global(global)), .close(0)]
        }
        return ThreadProgram(registers: 1, setup: setup, teardown: (0..<StressWorkload.globalCount).map { .clear(.global($0)) })
    }

    public func workerProgram(thread: Int, threads: Int, seed: UInt64) -> ThreadProgram {
        plan(thread: thread, threads: threads, seed: seed).program
    }

    /// Where the worker's stream commits its violations.
    public func expectations(thread: Int, threads: Int, seed: UInt64) -> StressExpectations {
        plan(thread: thread, threads: threads, seed: seed).expectations
    }

    func plan(thread: Int, threads: Int, seed: UInt64) -> (program: ThreadProgram, expectations: StressExpectations) {
        var builder = StressStreamBuilder(
            generator: SplitMix64.forThread(thread, seed: seed), thread: thread, threads: threads,
            kinds: injectable(threads: threads))
        var setup = (0..<StressWorkload.heldCount).map {
            Operation.new(object: StressWorkload.globalCount + thread * StressWorkload.heldCount + $0, into: $0)
        }
        if threads > 1 { setup += [.publishHandle(0, in: thread), .publishContext(in: thread)] }
        let pass = builder.pass()
        let program = ThreadProgram(
            registers: StressWorkload.heldCount + StressWorkload.workingRegisters, fields: StressWorkload.fieldCount,
            setup: setup, pass: pass, teardown: (0..<StressWorkload.heldCount).map { .close($0) })
        let expectations = StressExpectations(
            setupCalls: StressWorkload.heldCount, passCalls: builder.calls, perPass: builder.expected)
        return (program, expectations)
    }
}

/// Where one worker's stream commits violations: its set-up makes `setupCalls` context calls,
/// then every pass makes `passCalls`, and commits `perPass[offset][kind]` violations at call
/// `offset` of the pass. A report at call `setupCalls + k * passCalls + offset` of the thread is
/// one of them when pass `k` ran.
public struct StressExpectations: Sendable {
    public var setupCalls: Int
    public var passCalls: Int
    public var perPass: [Int: [ViolationKind: Int]]

    /// Violations of each kind one pass commits.
    public var injectedPerPass: [ViolationKind: Int] {
        perPass.values.reduce(into: [:]) { total, kinds in
            for (kind, count) in kinds { total[kind, default: 0] += count }
        }
    }
}

/// Builds one worker's pass, counting the context calls each operation makes under the debug
/// context so that every injected violation has a known call index.
struct StressStreamBuilder {
    var generator: SplitMix64
    let thread: Int
    let threads: Int
    let kinds: [ViolationKind]
    var operations: [Operation] = []
    var calls = 0
    var expected: [Int: [ViolationKind: Int]] = [:]
    var injected = 0
    var fieldFilled = [Bool](repeating: false, count: StressWorkload.fieldCount)
    var freeRegisters = Array((StressWorkload.heldCount..<(StressWorkload.heldCount + StressWorkload.workingRegisters)).reversed())
    /// The registers holding handles made by each open scope, outermost first.
    var scopes: [[Int]] = []

    init(generator: SplitMix64, thread: Int, threads: Int, kinds: [ViolationKind]) {
        self.generator = generator
        self.thread = thread
        self.threads = threads
        self.kinds = kinds
    }

    mutating func random(_ bound: Int) -> Int { Int(generator.next() % UInt64(bound)) }

    mutating func emit(_ operation: Operation, calls: Int) {
        operations.append(operation)
        self.calls += calls
    }

    mutating func expect(_ kind: ViolationKind) {
        expected[calls, default: [:]][kind, default: 0] += 1
    }

    /// A handle the current scope may use: a held one, or one made by any open scope.
    mutating func visible() -> Int {
        let made = scopes.flatMap { $0 }
        let index = random(StressWorkload.heldCount + made.count)
        return index < StressWorkload.heldCount ? index : made[index - StressWorkload.heldCount]
    }

    /// A handle the current scope did not make: a held one, or one of an outer scope.
    mutating func borrowed() -> Int {
        let outer = scopes.dropLast().flatMap { $0 }
        let index = random(StressWorkload.heldCount + outer.count)
        return index < StressWorkload.heldCount ? index : outer[index - StressWorkload.heldCount]
    }

    mutating func takeRegister() -> Int? { freeRegisters.popLast() }

    mutating func pass() -> [Operation] {
        let wantedInjections = kinds.count * StressWorkload.injectionsPerKind
        while calls < StressWorkload.passCalls || injected < wantedInjections {
            scopes = [[]]
            if let returned = call() {
                emit(.close(returned), calls: 1)
                freeRegisters.append(returned)
            }
        }
        for field in 0..<StressWorkload.fieldCount where fieldFilled[field] {
            emit(.clear(.field(field)), calls: 1)
            fieldFilled[field] = false
        }
        return operations
    }

    /// One extension call: enter, random steps, close what it made but the handle it returns,
    /// exit. Returns the register of the returned handle, which the caller's scope now owns.
    mutating func call() -> Int? {
        emit(.enter, calls: 1)
        scopes.append([])
        var leaks: [Int] = []
        var readAfterExit: [Int] = []
        for _ in 0..<(3 + random(10)) {
            if !kinds.isEmpty && random(256) == 0 {
                inject(leaks: &leaks, readAfterExit: &readAfterExit)
            } else {
                step()
            }
        }
        var made = scopes.removeLast()
        var returned: Int?
        if !made.isEmpty && random(2) == 0 { returned = made.remove(at: random(made.count)) }
        scopes.append([])
        for register in made {
            emit(.close(register), calls: 1)
            freeRegisters.append(register)
        }
        if let returned { emit(.ret(returned), calls: 1) }
        for _ in leaks { expect(.leak) }
        emit(.exit, calls: 1)
        scopes.removeLast()
        for register in readAfterExit {
            expect(.escape)
            emit(.read(register), calls: 1)
        }
        freeRegisters += leaks
        return returned
    }

    /// A handle made in the current scope goes into `register`.
    mutating func made(_ register: Int) { scopes[scopes.count - 1].append(register) }

    mutating func step() {
        let choice = random(100)
        switch choice {
        case 0..<18:
            guard let register = takeRegister() else { return emit(.dupClose(visible()), calls: 2) }
            emit(.dup(visible(), into: register), calls: 1)
            made(register)
        case 18..<30:
            emit(.dupClose(visible()), calls: 2)
        case 30..<42:
            emit(.read(visible()), calls: 1)
        case 42..<50:
            guard let register = takeRegister() else { return }
            emit(.load(.global(random(StressWorkload.globalCount)), into: register), calls: 1)
            made(register)
        case 50..<56:
            let field = random(StressWorkload.fieldCount)
            guard fieldFilled[field], let register = takeRegister() else { return emit(.read(visible()), calls: 1) }
            emit(.load(.field(field), into: register), calls: 1)
            made(register)
        case 56..<64:
            guard let register = takeRegister() else { return }
            emit(.create(into: register), calls: 1)
            made(register)
        case 64..<72:
            let field = random(StressWorkload.fieldCount)
            emit(.store(visible(), into: .field(field)), calls: fieldFilled[field] ? 3 : 2)
            fieldFilled[field] = true
        case 72..<76:
            let field = random(StressWorkload.fieldCount)
            guard fieldFilled[field] else { return }
            emit(.clear(.field(field)), calls: 1)
            fieldFilled[field] = false
        case 76..<90:
            var current = scopes[scopes.count - 1]
            guard !current.isEmpty else { return }
            let register = current.remove(at: random(current.count))
            scopes[scopes.count - 1] = current
            emit(.close(register), calls: 1)
            freeRegisters.append(register)
        default:
            guard scopes.count < StressWorkload.maxDepth else { return }
            if let returned = call() { made(returned) }
        }
    }

    /// One violation of the next kind in turn, at the current point.
    mutating func inject(leaks: inout [Int], readAfterExit: inout [Int]) {
        let kind = kinds[injected % kinds.count]
        injected += 1
        switch kind {
        case .wrongThread:
            expect(.wrongThread)
            emit(.readForeignHandle(from: (thread + threads - 1) % threads), calls: 1)
        case .wrongContext:
            let handle = visible()
            expect(.wrongContext)
            emit(.readThroughForeignContext(from: (thread + 1) % threads, handle), calls: 1)
        case .useAfterClose, .doubleClose:
            guard let register = takeRegister() else { return injected -= 1 }
            emit(.dup(visible(), into: register), calls: 1)
            emit(.close(register), calls: 1)
            expect(kind)
            emit(kind == .useAfterClose ? .read(register) : .close(register), calls: 1)
            freeRegisters.append(register)
        case .leak:
            guard let register = takeRegister() else { return injected -= 1 }
            emit(.dup(visible(), into: register), calls: 1)
            leaks.append(register)
        case .escape:
            switch random(4) {
            case 0:
                guard let register = takeRegister() else { return injected -= 1 }
                emit(.dup(visible(), into: register), calls: 1)
                leaks.append(register)
                readAfterExit.append(register)
            case 1:
                let handle = visible()
                expect(.escape)
                emit(.storeUnconverted(handle, into: .field(random(StressWorkload.fieldCount))), calls: 1)
            case 2:
                let handle = visible()
                expect(.escape)
                emit(.storeUnconverted(handle, into: .global(random(StressWorkload.globalCount))), calls: 1)
            default:
                let handle = visible()
                expect(.escape)
                emit(.sendUnconverted(handle, to: 0), calls: 1)
            }
        case .closeBorrowed:
            let handle = borrowed()
            expect(.closeBorrowed)
            emit(random(2) == 0 ? .close(handle) : .ret(handle), calls: 1)
        case .invalidHandle:
            break
        }
    }
}
