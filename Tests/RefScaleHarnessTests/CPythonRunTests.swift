import CPython
import Testing
@testable import RefScale
@testable import RefScaleHarness

/// `cpython` with a deliberate bug: the first `dup` of the first worker (thread 2) takes one
/// Py_INCREF more than it gives back, as a C extension that forgets a Py_DECREF.
struct IncrefLeakingScheme: CountingScheme {
    static let name = "cpython-leaking"
    static let summary = "cpython with one Py_INCREF never given back (a broken scheme for the tests)"
    static let reportedCounters = CPythonScheme.reportedCounters
    static let isThreadSafe = true

    var base: CPythonScheme
    let threadID: Int
    var leaked = false

    var counters: SchemeCounters { base.counters }

    static func makeShared(options: SchemeOptions, threads: Int) throws -> CPythonScheme.Shared {
        try CPythonScheme.makeShared(options: options, threads: threads)
    }

    init(shared: CPythonScheme.Shared, threadID: Int) {
        base = CPythonScheme(shared: shared, threadID: threadID)
        self.threadID = threadID
    }

    mutating func new(_ object: ObjectRef) -> Handle { base.new(object) }
    mutating func open(_ object: ObjectRef) -> Handle { base.open(object) }

    mutating func dup(_ handle: Handle) -> Handle {
        let duplicate = base.dup(handle)
        if threadID == 2 && !leaked {
            Py_INCREF(CPythonScheme.pythonObject(handle))  // under the GIL base.dup took
            leaked = true
        }
        return duplicate
    }

    mutating func close(_ handle: Handle) { base.close(handle) }
    func read(_ handle: Handle) -> UInt64 { base.read(handle) }
    func object(of handle: Handle) -> ObjectRef { base.object(of: handle) }
    mutating func retain(_ object: ObjectRef) { base.retain(object) }
    mutating func release(_ object: ObjectRef) { base.release(object) }
    mutating func transfer(_ handle: Handle) -> ObjectRef { base.transfer(handle) }
    mutating func adopt(_ object: ObjectRef) -> Handle { base.adopt(object) }
    mutating func safePoint() { base.safePoint() }
    mutating func suspend() { base.suspend() }
    mutating func resume() { base.resume() }
    mutating func threadExit() { base.threadExit() }
    static func referenceCount(of object: ObjectRef) -> Int? { CPythonScheme.referenceCount(of: object) }
}

/// `cpython` whose every object creation fails as `int('not a number')` does.
struct FailingCreationScheme: CountingScheme {
    static let name = "cpython-failing"
    static let summary = "cpython whose object creation raises ValueError (a broken scheme for the tests)"
    static let reportedCounters = CPythonScheme.reportedCounters
    static let isThreadSafe = true

    var base: CPythonScheme
    var counters: SchemeCounters { base.counters }

    static func makeShared(options: SchemeOptions, threads: Int) throws -> CPythonScheme.Shared {
        let shared = try CPythonScheme.makeShared(options: options, threads: threads)
        shared.createsFailingObjects = true
        return shared
    }

    init(shared: CPythonScheme.Shared, threadID: Int) { base = CPythonScheme(shared: shared, threadID: threadID) }

    mutating func new(_ object: ObjectRef) -> Handle { base.new(object) }
    mutating func open(_ object: ObjectRef) -> Handle { base.open(object) }
    mutating func dup(_ handle: Handle) -> Handle { base.dup(handle) }
    mutating func close(_ handle: Handle) { base.close(handle) }
    func read(_ handle: Handle) -> UInt64 { base.read(handle) }
    func object(of handle: Handle) -> ObjectRef { base.object(of: handle) }
    mutating func retain(_ object: ObjectRef) { base.retain(object) }
    mutating func release(_ object: ObjectRef) { base.release(object) }
    mutating func safePoint() { base.safePoint() }
    mutating func suspend() { base.suspend() }
    mutating func resume() { base.resume() }
    mutating func threadExit() { base.threadExit() }
    static func referenceCount(of object: ObjectRef) -> Int? { CPythonScheme.referenceCount(of: object) }
    static func failure(of shared: CPythonScheme.Shared) -> String? { CPythonScheme.failure(of: shared) }
}

@Suite("cpython through the runner", .tags(.threaded))
struct CPythonRunTests {
    @Test(arguments: [SharedHotWorkload.name, PrivateWorkload.name], [1, 2])
    func runsAreValid(workload: String, threads: Int) throws {
        let row = try shortRun(Registry.scheme(named: CPythonScheme.name), workload: workload, threads: threads)
        #expect(row.isValid, "\(row["validation_error"].text)")
        try expectEveryWorkerWorkedInTheMeasuredInterval(row)
        #expect(row["python_version"].text.hasPrefix("3.11"), "python_version: '\(row["python_version"].text)'")
    }

    @Test func pythonVersionIsBlankForModelSchemes() throws {
        let row = try shortRun(Registry.scheme(named: AtomicScheme.name), workload: PrivateWorkload.name, threads: 1)
        #expect(row["python_version"].text == "")
    }

    @Test func aLeakedIncrefIsCaughtByTheRealCount() throws {
        let row = try shortRun(SchemeEntry(IncrefLeakingScheme.self), workload: SharedHotWorkload.name, threads: 2)
        #expect(!row.isValid)
        #expect(row["validation_error"].text.contains("not back to their count"), "\(row["validation_error"].text)")
        #expect(row["validation_error"].text.contains("never freed"), "\(row["validation_error"].text)")
    }

    @Test(arguments: [SharedHotWorkload.name, PrivateWorkload.name])
    func aPythonErrorStopsTheRunWithPythonsMessage(workload: String) throws {
        let error = try #require(throws: HarnessError.self) {
            try shortRun(SchemeEntry(FailingCreationScheme.self), workload: workload, threads: 2)
        }
        #expect(error.description.contains("ValueError: invalid literal for int() with base 10: 'not a number'"), "\(error)")
        #expect(!error.description.contains("\n"))
    }
}

extension IncrefLeakingScheme: UniversalScheme {
    static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}

extension FailingCreationScheme: UniversalScheme {
    static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}
