import Synchronization
@testable import RefScale
import RefScaleHarness

/// Any scheme, with every call the kernel makes on it recorded per thread: what the scheme was
/// actually given to execute, to compare across schemes (the CSV's `stream_digest` is computed
/// from the workload before any scheme runs, so it cannot show that).
///
/// Each thread's record is a digest of its calls up to its first safe point (its set-up and
/// first pass, which every worker runs; the runner's later passes replay the same operations),
/// in order: the kind of each call, and for `open` and `load` the object, numbered by first
/// appearance in the thread (addresses differ between runs; the order in which a thread meets
/// its objects does not), and for `immediate` the number. `load(from:)` and `immediate`
/// are forwarded to the scheme's own, so its load path and its tagging run as they do unrecorded. Left out, as their number depends on timing, not on the scheme: an `adopt` closed
/// at once (what `churn`'s remote frees do with whatever has arrived). A safe point an exhausted
/// region forces in the first pass would end the digest early, and the schemes would differ:
/// the test would fail, not pass. The record also counts the opens and loads of every object over the
/// whole run, the loads (and the loads whose handle names another object than the slot held),
/// and the numbers asked for by kind, with those the scheme made immediates.
///
/// A run of a recorded scheme is recorded in `RecordedRuns.latest`; the suites that use it are
/// serialised so that no two recorded runs overlap.
struct Recorded<S: CountingScheme>: UniversalScheme {
    static var name: String { "recorded-\(S.name)" }
    static var summary: String { S.summary }
    static var reportedCounters: Set<CounterKind> { S.reportedCounters }
    static var isThreadSafe: Bool { S.isThreadSafe }
    static var declaredOptions: [OptionDeclaration] { S.declaredOptions }
    static var pythonVersion: String? { S.pythonVersion }

    /// A C function pointer cannot name a generic parameter: recorded schemes run under the
    /// direct context only.
    static var universalTable: UniversalTable { preconditionFailure("a recorded scheme runs under the direct context only") }

    final class Shared {
        let base: S.Shared
        let run = RecordedRun()
        init(base: S.Shared) { self.base = base }
    }

    var base: S
    let recording: ThreadRecording

    static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared {
        let shared = Shared(base: try S.makeShared(options: options, threads: threads))
        RecordedRuns.latest.withLock { $0 = shared.run }
        return shared
    }

    init(shared: Shared, threadID: Int) {
        base = S(shared: shared.base, threadID: threadID)
        recording = ThreadRecording(threadID: threadID)
        shared.run.add(recording)
    }

    var counters: SchemeCounters { base.counters }

    mutating func new(_ object: ObjectRef) -> Handle {
        recording.note(.new)
        return base.new(object)
    }

    mutating func open(_ object: ObjectRef) -> Handle {
        recording.noteOpen(object)
        return base.open(object)
    }

    mutating func load(from slot: UnsafeMutablePointer<UInt>) -> Handle {
        let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: slot.pointee)!)
        let handle = base.load(from: slot)
        recording.noteLoad(object, handleNames: base.object(of: handle))
        return handle
    }

    mutating func immediate(_ number: Number) -> Handle {
        let handle = base.immediate(number)
        recording.noteNumber(number, immediate: handle != .null)
        return handle
    }

    mutating func dup(_ handle: Handle) -> Handle {
        recording.note(.dup)
        return base.dup(handle)
    }

    mutating func close(_ handle: Handle) {
        recording.note(.close)
        base.close(handle)
    }

    func read(_ handle: Handle) -> UInt64 {
        recording.note(.read)
        return base.read(handle)
    }

    func object(of handle: Handle) -> ObjectRef { base.object(of: handle) }

    mutating func retain(_ object: ObjectRef) {
        recording.note(.retain)
        base.retain(object)
    }

    mutating func release(_ object: ObjectRef) {
        recording.note(.release)
        base.release(object)
    }

    mutating func transfer(_ handle: Handle) -> ObjectRef {
        recording.note(.transfer)
        return base.transfer(handle)
    }

    mutating func adopt(_ object: ObjectRef) -> Handle {
        recording.note(.adopt)
        return base.adopt(object)
    }

    mutating func enterScope() {
        recording.note(.enterScope)
        base.enterScope()
    }

    mutating func exitScope() {
        recording.note(.exitScope)
        base.exitScope()
    }

    mutating func returning(_ handle: Handle) -> Handle {
        recording.note(.returning)
        return base.returning(handle)
    }

    mutating func escapeUnconverted(_ handle: Handle, to route: EscapeRoute) {
        recording.note(.escape)
        base.escapeUnconverted(handle, to: route)
    }

    mutating func safePoint() {
        recording.safePoint()
        base.safePoint()
    }
    mutating func suspend() { base.suspend() }
    mutating func resume() { base.resume() }

    mutating func threadExit() {
        recording.finish()
        base.threadExit()
    }

    static func referenceCount(of object: ObjectRef) -> Int? { S.referenceCount(of: object) }
    static func failure(of shared: Shared) -> String? { S.failure(of: shared.base) }
}

/// The calls a recorded scheme tells apart.
enum RecordedCall: UInt64 {
    case new = 1, open, dup, close, read, retain, release, transfer, adopt, enterScope, exitScope, returning, escape, load, number
}

/// One thread's record (see `Recorded`). Touched only by its thread until the run ends.
final class ThreadRecording: @unchecked Sendable {
    let threadID: Int
    private(set) var digest: UInt64 = 0xCBF2_9CE4_8422_2325
    /// Calls in the digest: those before the thread's first safe point, its set-up and first
    /// pass, which every worker runs however little it is scheduled (later passes replay it).
    private(set) var digested = 0
    private var digestClosed = false
    /// Calls recorded in all (adopt-close pairs left out).
    private(set) var calls = 0
    /// How many times each object was opened or loaded, by address, with whether it was immortal.
    private(set) var opens: [UInt: (count: Int, immortal: Bool)] = [:]
    /// Loads, and those whose handle named another object than the one the slot held.
    private(set) var loads = 0
    private(set) var loadsOfOtherObjects = 0
    /// Numbers asked for, by kind, and how many of them the scheme made immediates.
    private(set) var numbers: [Number.Kind: (asked: Int, immediate: Int)] = [:]
    private var objectNumbers: [UInt: UInt64] = [:]
    private var heldAdopt = false

    init(threadID: Int) { self.threadID = threadID }

    func note(_ call: RecordedCall, object: UInt64 = 0) {
        if heldAdopt {
            heldAdopt = false
            if call == .close { return }
            add(.adopt, object: 0)
        }
        if call == .adopt {
            heldAdopt = true
            return
        }
        add(call, object: object)
    }

    func noteOpen(_ object: ObjectRef) {
        let address = UInt(bitPattern: object.address)
        opens[address, default: (0, object.isImmortal)].count += 1
        note(.open, object: number(of: object))
    }

    func noteLoad(_ object: ObjectRef, handleNames named: ObjectRef) {
        loads += 1
        opens[UInt(bitPattern: object.address), default: (0, object.isImmortal)].count += 1
        if named.address != object.address { loadsOfOtherObjects += 1 }
        note(.load, object: number(of: object))
    }

    func noteNumber(_ number: Number, immediate: Bool) {
        numbers[number.kind, default: (0, 0)].asked += 1
        if immediate { numbers[number.kind, default: (0, 0)].immediate += 1 }
        note(.number, object: number.word)
    }

    private func number(of object: ObjectRef) -> UInt64 {
        let address = UInt(bitPattern: object.address)
        let number = objectNumbers[address] ?? UInt64(objectNumbers.count + 1)
        objectNumbers[address] = number
        return number
    }

    func safePoint() { digestClosed = true }

    func finish() {
        if heldAdopt { add(.adopt, object: 0) }
        heldAdopt = false
    }

    private func add(_ call: RecordedCall, object: UInt64) {
        calls += 1
        guard !digestClosed else { return }
        digested += 1
        for word in [call.rawValue, object] {
            digest = (digest ^ word) &* 0x100_0000_01B3
        }
    }
}

/// The threads of one recorded run.
final class RecordedRun: Sendable {
    private let recordings = LockedValue<[ThreadRecording]>([])

    func add(_ recording: ThreadRecording) { recordings.withLock { $0.append(recording) } }

    /// Each thread's digest of its set-up and first pass, by thread id.
    var digests: [Int: UInt64] { recordings.withLock { Dictionary(uniqueKeysWithValues: $0.map { ($0.threadID, $0.digest) }) } }
    /// The fewest calls in any worker's digest (the main thread may make none).
    var fewestWorkerCalls: Int { recordings.withLock { $0.filter { $0.threadID != 1 }.map(\.digested).min() ?? 0 } }
    /// Loads over every thread, and those whose handle named another object than the slot held.
    var loads: (count: Int, ofOtherObjects: Int) {
        recordings.withLock { threads in (threads.map(\.loads).reduce(0, +), threads.map(\.loadsOfOtherObjects).reduce(0, +)) }
    }
    /// Numbers asked for over every thread, by kind, with those the scheme made immediates.
    var numbers: [Number.Kind: (asked: Int, immediate: Int)] {
        recordings.withLock { threads in
            threads.reduce(into: [:]) { total, thread in
                for (kind, count) in thread.numbers {
                    total[kind, default: (0, 0)].asked += count.asked
                    total[kind, default: (0, 0)].immediate += count.immediate
                }
            }
        }
    }
    /// Opens and loads of each object over every thread, with whether it was immortal.
    var opens: [UInt: (count: Int, immortal: Bool)] {
        recordings.withLock { threads in
            threads.reduce(into: [:]) { total, thread in
                for (address, open) in thread.opens { total[address, default: (0, open.immortal)].count += open.count }
            }
        }
    }
}

enum RecordedRuns {
    static let latest = LockedValue<RecordedRun?>(nil)
}
