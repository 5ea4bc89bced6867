import CRefScale
import RefScale
import Synchronization

/// The plain-C reference loops, timed on the same machine in the same process, so a kernel's
/// figure can be read against the bare operation it models.
public enum Calibration {
    public struct Reference: Sendable {
        public var name: String
        public var threads: Int
        public var nanosecondsPerOperation: Double
    }

    /// A relaxed fetch-add and an acquire-release fetch-sub per pair on one 128-byte-aligned
    /// counter, by `threads` threads at once (all on the same counter); ns per operation per thread.
    public static func atomicPair(threads: Int, pairs: Int = 20_000_000) -> Reference {
        let counter = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128)
        defer { counter.deallocate() }
        counter.initializeMemory(as: Int64.self, repeating: 0, count: 16)
        let nanoseconds = timed(threads: threads) {
            _ = crefscale_reference_atomic_pair_loop(counter.assumingMemoryBound(to: Int64.self), Int64(pairs))
        }
        return Reference(name: "C11 atomic fetch_add relaxed + fetch_sub acq_rel", threads: threads,
                         nanosecondsPerOperation: Double(threads) * nanoseconds / Double(2 * pairs))
    }

    /// A volatile increment and decrement per pair on a counter of the thread's own.
    public static func plainPair(pairs: Int = 50_000_000) -> Reference {
        let counter = UnsafeMutablePointer<Int64>.allocate(capacity: 16)
        defer { counter.deallocate() }
        counter.initialize(repeating: 0, count: 16)
        let nanoseconds = timed(threads: 1) { _ = crefscale_reference_plain_pair_loop(counter, Int64(pairs)) }
        return Reference(name: "C volatile ++ and --", threads: 1, nanosecondsPerOperation: nanoseconds / Double(2 * pairs))
    }

    /// The free-threaded `Py_INCREF` then `Py_DECREF` by the owner, per pair, in a C loop on the
    /// header `biased` uses (`crefscale_reference_biased_owner_pair_loop`), on one 64-byte object.
    public static func biasedOwnerPair(pairs: Int = 50_000_000) -> Reference {
        let object = UnsafeMutableRawPointer.allocate(byteCount: ObjectRef.headerSize, alignment: 64)
        defer { object.deallocate() }
        object.initializeMemory(as: UInt8.self, repeating: 0, count: ObjectRef.headerSize)
        let header = ObjectRef(address: object)
        header.ownerThread.pointee.store(1, ordering: .relaxed)
        header.localCount = 1
        let nanoseconds = timed(threads: 1) { _ = crefscale_reference_biased_owner_pair_loop(object, 1, Int64(pairs)) }
        return Reference(name: "C free-threaded Py_INCREF + Py_DECREF, owner", threads: 1,
                         nanosecondsPerOperation: nanoseconds / Double(2 * pairs))
    }

    /// The real `Py_INCREF` then `Py_DECREF` of one object, per pair, in a C loop over CPython's
    /// own header (`crefscale_py_incref_decref_loop`), on one thread holding the GIL.
    public static func pythonPair(pairs: Int = 50_000_000) -> Reference {
        Reference(
            name: "CPython \(EmbeddedPython.version) Py_INCREF + Py_DECREF", threads: 1,
            nanosecondsPerOperation: EmbeddedPython.increfDecrefNanoseconds(pairs: pairs))
    }

    /// The machine probes' samples are this far apart, so that they meet the machine in several
    /// of its states (a neighbouring hyperthread busy or idle, two CPUs near or far).
    public static let probePause = 0.05

    /// `samples` values of `measure`, `pause` seconds apart.
    static func sampled(_ samples: Int, pause: Double, _ measure: () -> Double) -> [Double] {
        (0..<samples).map { sample in
            if sample > 0 { Runner.sleep(seconds: pause) }
            return measure()
        }
    }

    /// Adds per cycle the calling thread's core gives it, `samples` times `pause` seconds apart:
    /// the ns per add of one dependent chain over that of four independent chains
    /// (`crefscale_reference_add_chains`). The dependent chain runs one add a cycle, so the ratio
    /// does not move with the clock; it falls when another hyperthread takes the core's ALUs.
    public static func coreWidth(samples: Int = 10, rounds: Int = 2_000_000, pause: Double = probePause) -> [Double] {
        func nanosecondsPerAdd(independent: Bool) -> Double {
            let start = crefscale_clock_monotonic_ns()
            let sum = crefscale_reference_add_chains(Int64(rounds), independent ? 1 : 0)
            let elapsed = Double(crefscale_clock_monotonic_ns() - start)
            precondition(sum == Int64(8 * rounds), "the add chains lost an add")
            return elapsed / Double(8 * rounds)
        }
        return sampled(samples, pause: pause) { nanosecondsPerAdd(independent: false) / nanosecondsPerAdd(independent: true) }
    }

    /// ns per round trip of one cache line between the first two CPUs `--pin compact` uses
    /// (`crefscale_reference_ping_pong`, a thread pinned to each), `samples` times `pause` seconds
    /// apart; nil with fewer than two CPUs. On a VM it moves as the hypervisor places the two
    /// vCPUs on nearby or distant cores, and with it every figure of threads that share lines.
    public static func lineRoundTrip(samples: Int = 10, rounds: Int = 100_000, pause: Double = probePause) -> (cpus: [Int], nanoseconds: [Double])? {
        guard let cpus = Pinning.compact.cpus(workers: 2), cpus[0] != cpus[1] else { return nil }
        let flag = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128)
        defer { flag.deallocate() }
        let word = flag.assumingMemoryBound(to: Int64.self)
        return (cpus, sampled(samples, pause: pause) {
            flag.initializeMemory(as: Int64.self, repeating: 0, count: 16)
            let nanoseconds = timed(cpus: cpus) { side in _ = crefscale_reference_ping_pong(word, Int64(rounds), Int32(side)) }
            precondition(word.pointee == Int64(2 * rounds), "the ping-pong lost a round")
            return nanoseconds / Double(rounds)
        })
    }

    /// Wall time from releasing `threads` threads together to the last one finishing `body`.
    static func timed(threads: Int, _ body: @escaping () -> Void) -> Double {
        timed(cpus: Array(repeating: nil, count: threads)) { _ in body() }
    }

    /// The same, one thread per entry of `cpus` (pinned where it is not nil); `body` gets the
    /// thread's index.
    static func timed(cpus: [Int?], _ body: @escaping (Int) -> Void) -> Double {
        let control = RunControl(workers: cpus.count)
        let signals = control.signals
        let workers = cpus.enumerated().map { index, cpu in
            WorkerThread(pinnedTo: cpu) {
                signals.arriveAndWaitForStart()
                body(index)
            }
        }
        control.waitUntilReady()
        let start = crefscale_clock_monotonic_ns()
        control.start()
        workers.forEach { $0.join() }
        return Double(crefscale_clock_monotonic_ns() - start)
    }
}
