import Foundation
import Synchronization

/// `trace`: a recorded reference-count trace of a real Python program (`refscale trace record`),
/// replayed: each traced thread's events become one worker's stream, generated before the run
/// from the trace alone, so every scheme replays the same operations. `TraceReplay` states how
/// events become operations; README.md ("Replaying a trace") states it for users.
///
/// Invariants:
/// - every pass leaves every object as it found it, so passes repeat: resident objects at the
///   count the run holds for them, transient objects dead;
/// - after the workers return, each resident object holds exactly the run's one reference and
///   was born once; each worker's region saw exactly its transient births per pass times its
///   passes, and none of them is alive (`validate(afterWorkers:)`; `ObjectPool.validateLifetimes`
///   then checks that each was freed once per birth and not written after its free);
/// - a transient object is allocated from its worker's region, which reuses only freed memory:
///   an object a scheme keeps after its last reference (a lazy table's slot, an arena's scope)
///   is never born again before it is freed.
public struct TraceWorkload: Workload {
    public static let name = "trace"
    public static let summary = "a recorded trace of a real Python program, each traced thread one worker"
    public static let sharesObjects = true
    public static let trace = DeclaredOption<String>(
        "trace", default: "", help: "trace: the trace file to replay (refscale trace record)")
    public static let traceSites = DeclaredOption<TraceReplay.Sites>(
        "trace_sites", default: .asRecorded,
        help: "trace: as-recorded (extension events are handle operations, interpreter events the runtime's counts) or all-handles")
    public static let whatIf = DeclaredOption<String>(
        "what_if", default: "none",
        help: "trace: objects changed before the replay: none, immortal:topN, immortal:types, deferred:types, or object numbers")
    public static let declaredOptions = [trace.declaration, traceSites.declaration, whatIf.declaration]

    public let replay: TraceReplay
    let streams: StreamCache

    public init(options: OptionValues) throws {
        let path = options[Self.trace]
        guard !path.isEmpty else { throw ConfigurationError("workload trace needs --trace FILE (a trace of refscale trace record)") }
        let whatIf = try TraceWhatIf(parsing: options[Self.whatIf])
        streams = try TraceCache.shared.streams(path: path, sites: options[Self.traceSites], whatIf: whatIf)
        replay = streams.replay
    }

    public func check(threads: Int) throws {
        if let problem = replay.problem(threads: threads) { throw ConfigurationError(problem) }
    }

    public func poolSize(threads: Int) -> Int { streams.streams(threads: threads).layout.poolSize }
    /// Room for the transient objects the stream holds at once (its names), and for the dead ones
    /// a scheme keeps until it frees them: a lazy table's slots of count 0, at most the widest
    /// table's slots. A region used up runs a safe point; memory never used is never touched.
    public func regionSize(threads: Int) -> Int {
        (streams.streams(threads: threads).transientNames.max() ?? 0) + Self.deferredRoom
    }

    static let deferredRoom = HandleIndex.allCases.map(\.slotCount).max()! + 1

    public func globals(threads: Int) -> Int { poolSize(threads: threads) }
    public func mainProgram(threads: Int, seed: UInt64) -> ThreadProgram { streams.streams(threads: threads).main }
    public func workerProgram(thread: Int, threads: Int, seed: UInt64) -> ThreadProgram {
        streams.streams(threads: threads).workers[thread]
    }

    public func replicatedObjects(threads: Int) -> Int? {
        replay.replicas(threads: threads) > 1 ? replay.singleThreadObjects : 0
    }

    /// Operations a pass adds to the trace's events to return every object to its state at the
    /// pass's start, and the events, over all workers.
    public func balancing(threads: Int) -> (operations: Int, events: Int) {
        let streams = streams.streams(threads: threads)
        return (streams.balancingOperations, streams.events)
    }

    /// The trace object each of the pool's fixed objects stands for in a run of `threads` workers;
    /// the objects beyond them are transient (in the workers' regions).
    public func traceObjects(threads: Int) -> [Int] { streams.streams(threads: threads).objectOfPool }

    public func validate(afterWorkers run: WorkersFinished) -> String? {
        let streams = streams.streams(threads: run.passes.count)
        var problems: [String] = []
        var bad = 0
        func report(_ problem: String) {
            bad += 1
            if problems.count < 3 { problems.append(problem) }
        }
        for index in streams.residentObjects {
            let object = run.pool[index]
            // A scheme that keeps no count (`noop`) ties an object's life to its first handle,
            // which the bearer closes before the start: only its one birth can be checked.
            guard let count = run.referenceCount(object) else {
                if object.timesBorn != 1 { report("trace object in pool slot \(index) was born \(object.timesBorn) times, not once") }
                continue
            }
            if object.timesBorn != 1 || !object.isAlive {
                report("trace object in pool slot \(index) was born \(object.timesBorn) time(s) and is \(object.isAlive ? "alive" : "dead"); it should live through the run")
            } else if !object.isImmortal && count != 1 {
                report("trace object in pool slot \(index) has count \(count) after the workers, not the run's one reference")
            }
        }
        for (worker, birthsPerPass) in streams.transientBirthsPerPass.enumerated() {
            let region = run.pool.usedRegion(thread: ThreadSlot.worker(worker)).map { run.pool[$0] }
            let births = region.reduce(0) { $0 + $1.timesBorn }
            let alive = region.count(where: { $0.isAlive })
            let expected = birthsPerPass * run.passes[worker]
            if births != expected || alive > 0 {
                report("worker \(worker) allocated \(births) transient object(s), \(alive) still alive; its \(birthsPerPass) per pass in \(run.passes[worker]) passes make \(expected)")
            }
        }
        guard bad > 0 else { return nil }
        return "\(bad) trace replay problem(s): " + problems.joined(separator: "; ")
    }

    /// The streams are this workload's own (not a wrapper's), so their marked passes and digest
    /// are kept with them.
    public func lastDropsMarked(_ workers: [ThreadProgram], stamping: Bool) -> [[Operation]] {
        streams.derived(threads: workers.count, stamping: stamping) { LastDrops.mark(workers.map(\.pass), stamping: stamping) }
    }

    public func streamDigest(main: ThreadProgram, workers: [ThreadProgram]) -> UInt64 {
        streams.digest(threads: workers.count) { ([main] + workers).reduce(into: StreamDigest()) { $0.add($1) }.value }
    }

    /// Each thread count's streams, built once per trace and option set (`TraceCache`), with
    /// what runs derive from them: the marked passes (per stamping) and the digest.
    final class StreamCache: @unchecked Sendable {
        let replay: TraceReplay
        private let built = LockedValue<[Int: TraceStreams]>([:])
        private let marked = LockedValue<[Int: [[Operation]]]>([:])
        private let digests = LockedValue<[Int: UInt64]>([:])

        init(_ replay: TraceReplay) { self.replay = replay }

        func streams(threads: Int) -> TraceStreams {
            if let streams = built.withLock({ $0[threads] }) { return streams }
            let streams = TraceStreams(replay, threads: threads)
            built.withLock { $0[threads] = streams }
            return streams
        }

        func derived(threads: Int, stamping: Bool, _ make: () -> [[Operation]]) -> [[Operation]] {
            let key = threads * 2 + (stamping ? 1 : 0)
            if let passes = marked.withLock({ $0[key] }) { return passes }
            let passes = make()
            marked.withLock { $0[key] = passes }
            return passes
        }

        func digest(threads: Int, _ make: () -> UInt64) -> UInt64 {
            if let digest = digests.withLock({ $0[threads] }) { return digest }
            let digest = make()
            digests.withLock { $0[threads] = digest }
            return digest
        }
    }
}

/// Traces read once per process, and their replays and streams once per option set: a sweep
/// makes the workload for every run.
final class TraceCache: Sendable {
    static let shared = TraceCache()

    private struct ReplayKey: Hashable {
        var path: String
        var sites: String
        var whatIf: String
    }

    private let traces = LockedValue<[String: Trace]>([:])
    private let replays = LockedValue<[ReplayKey: TraceWorkload.StreamCache]>([:])

    func trace(path: String) throws -> Trace {
        if let trace = traces.withLock({ $0[path] }) { return trace }
        guard let data = FileManager.default.contents(atPath: Self.locate(path)) else {
            throw ConfigurationError(option: "trace", "cannot read '\(path)'")
        }
        let trace: Trace
        do {
            trace = try TraceFile.decode([UInt8](data))
        } catch {
            throw ConfigurationError(option: "trace", "'\(path)': \(error.description)")
        }
        traces.withLock { $0[path] = trace }
        return trace
    }

    /// A relative path not found from the working directory is looked for from the directories
    /// above the running executable (`.build/release/refscale` in a checkout), so the default
    /// experiment finds the committed traces wherever refscale is started.
    static func locate(_ path: String) -> String {
        let files = FileManager.default
        if path.hasPrefix("/") || files.fileExists(atPath: path) { return path }
        var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent(path).path
            if files.fileExists(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return path
    }

    func streams(path: String, sites: TraceReplay.Sites, whatIf: TraceWhatIf) throws -> TraceWorkload.StreamCache {
        let key = ReplayKey(path: path, sites: sites.rawValue, whatIf: String(describing: whatIf))
        if let streams = replays.withLock({ $0[key] }) { return streams }
        let trace = try trace(path: path)
        let streams = TraceWorkload.StreamCache(TraceReplay(trace: trace, sites: sites, change: try whatIf.resolve(in: trace)))
        replays.withLock { $0[key] = streams }
        return streams
    }
}
