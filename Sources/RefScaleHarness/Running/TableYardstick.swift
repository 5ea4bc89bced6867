import CRefScale
import RefScale

/// The C yardstick of `handle-local`'s table (`crefscale_yardstick_*`, Sources/CRefScale/yardstick.c):
/// the table's steps in plain C, run on the operation stream refscale itself runs for `call`,
/// beside the same stream run with `noop`'s, `atomic`'s and `biased`'s steps in C. `calibrate`
/// reads each scheme's "less noop" in refscale against its "C less C noop" on the same stream,
/// the schemes against each other in C (what their steps cost on this CPU, the model left out),
/// and `private`'s table dup/close against a C loop of the same two steps on one slot.
///
/// A figure is only worth its counts: every run reports what it did (births, frees, what the
/// table holds after the final flush, the table's counters), and `problem` says why a run's
/// figure must not be printed: a refused stream, or counts that do not check.
public enum TableYardstick {
    /// One thread's program as the C interpreters take it: `ThreadProgram`'s three parts, the
    /// pass as refscale runs it (its last drops marked, `Workload.lastDropsMarked`), and the
    /// memory the program needs.
    public struct Stream: Sendable {
        public var setup: [Operation]
        public var pass: [Operation]
        public var teardown: [Operation]
        public var registers: Int
        public var fields: Int
        /// Objects born by index (`Workload.poolSize`), objects of the thread's region (`regionSize`).
        public var fixedObjects: Int
        public var regionObjects: Int
        /// The handle operations of one pass, as refscale counts them (`Operation.handleOperations`).
        public var passOperations: Int { pass.reduce(0) { $0 + $1.handleOperations } }

        public init(
            setup: [Operation], pass: [Operation], teardown: [Operation], registers: Int, fields: Int, fixedObjects: Int,
            regionObjects: Int
        ) {
            self.setup = setup
            self.pass = pass
            self.teardown = teardown
            self.registers = registers
            self.fields = fields
            self.fixedObjects = fixedObjects
            self.regionObjects = regionObjects
        }
    }

    /// `call`'s stream as a one-thread run of refscale runs it (`RunSession`): the worker program
    /// of thread 0 with `options` (the defaults unless given) and the run's default seed, its
    /// pass marked as the direct context marks it.
    public static func callStream(options: OptionValues = OptionValues(), seed: UInt64 = 1) throws -> Stream {
        let workload = try Registry.workload(named: CallWorkload.name).make(options)
        precondition(workload.mainProgram(threads: 1, seed: seed).setup.isEmpty, "call's main thread makes no objects")
        let program = workload.workerProgram(thread: 0, threads: 1, seed: seed)
        return Stream(
            setup: program.setup, pass: workload.lastDropsMarked([program], stamping: true)[0], teardown: program.teardown,
            registers: program.registers, fields: program.fields, fixedObjects: workload.poolSize(threads: 1),
            regionObjects: workload.regionSize(threads: 1))
    }

    /// Which steps a C run takes.
    public enum Steps: Sendable, Equatable {
        /// `noop`'s: the same births and frees, no counting.
        case noop
        /// `atomic`'s: a fetch-add per reference, a fetch-sub per drop.
        case atomic
        /// `biased`'s at `--weakref-share 0`: the owner's plain counts, the eval-breaker checks.
        case biased
        /// `handle-local`'s on the `biased` runtime, with its table indexed as `index` says.
        case handleLocal(HandleIndex, ReleasePolicy)
    }

    /// What one C run did.
    public struct Run: Sendable {
        public var steps: Steps
        /// `crefscale_yardstick_status`: 0, or why the run stopped.
        public var status: Int32
        public var counts: crefscale_yardstick_counts
        /// The handle operations the timed part performed.
        public var operations: Int
        /// Objects the run must have made (a dup/close loop's one object); nil: any number.
        var expectedBirths: Int?
        /// The table dups and closes the run must have made; nil: any number.
        var expectedLocalDupClose: Int?

        public var nanosecondsPerOperation: Double { Double(counts.nanoseconds) / Double(max(1, operations)) }

        /// Why this run's figure must not be used, or nil: the run was refused or stopped, or an
        /// object born was not freed exactly once, or the table kept something after its final
        /// flush, or a count the loop fixes came out otherwise.
        public var problem: String? {
            if status != 0 {
                let at = counts.failed_at >= 0 ? " at entry \(counts.failed_at)" : ""
                return "the C run stopped: \(TableYardstick.describe(status))\(at)"
            }
            var problems: [String] = []
            if counts.births != counts.frees { problems.append("\(counts.births) born, \(counts.frees) freed") }
            if counts.double_frees != 0 { problems.append("\(counts.double_frees) free(s) of a dead object") }
            if counts.alive_at_end != 0 { problems.append("\(counts.alive_at_end) object(s) alive at the end") }
            if counts.slots_held != 0 || counts.slot_counts != 0 {
                problems.append("\(counts.slots_held) slot(s) held with counts summing to \(counts.slot_counts) after the final flush")
            }
            if let expectedBirths, counts.births != expectedBirths { problems.append("\(counts.births) born, \(expectedBirths) expected") }
            if let expectedLocalDupClose, counts.local_dup_close != expectedLocalDupClose {
                problems.append("\(counts.local_dup_close) table dups and closes, \(expectedLocalDupClose) expected")
            }
            if counts.births == 0 && expectedBirths == nil { problems.append("no object born") }
            return problems.isEmpty ? nil : "the C run's counts do not check: " + problems.joined(separator: "; ")
        }
    }

    /// A `crefscale_yardstick_status` in words.
    public static func describe(_ status: Int32) -> String {
        switch status {
        case CREFSCALE_YARDSTICK_OK.rawValue: "ran to its end"
        case CREFSCALE_YARDSTICK_UNKNOWN_CODE.rawValue: "an operation code the C interpreters do not run"
        case CREFSCALE_YARDSTICK_BAD_OPERAND.rawValue: "an operand call's stream never has (a global, a name, a type, or out of range)"
        case CREFSCALE_YARDSTICK_REGION_EXHAUSTED.rawValue: "create found the region used up even after flushing"
        case CREFSCALE_YARDSTICK_NOT_MODELLED.rawValue: "a step that needs another thread (a merge request or a queued object)"
        case CREFSCALE_YARDSTICK_BAD_TABLE.rawValue: "a table handle-local does not make, or no memory"
        default: "status \(status)"
        }
    }

    /// The table of `index` as `handle-local` makes it with no tag bits.
    static func table(_ index: HandleIndex, _ release: ReleasePolicy) -> crefscale_yardstick_table {
        crefscale_yardstick_table(slot_count: Int64(index.slotCount), index_shift: Int32(index.shift), release_eagerly: release == .eager ? 1 : 0)
    }

    /// Runs `stream` in C with `steps`: the set-up, `passes` passes (a safe point after each), the
    /// teardown, a safe point and the thread's exit, in the calling thread.
    public static func run(_ steps: Steps, on stream: Stream, passes: Int) -> Run {
        let setup = stream.setup.map(\.bits), pass = stream.pass.map(\.bits), teardown = stream.teardown.map(\.bits)
        var counts = crefscale_yardstick_counts()
        let status = setup.withUnsafeBufferPointer { setup in
            pass.withUnsafeBufferPointer { pass in
                teardown.withUnsafeBufferPointer { teardown in
                    var program = crefscale_yardstick_stream(
                        setup: setup.baseAddress, setup_count: Int64(setup.count), pass: pass.baseAddress,
                        pass_count: Int64(pass.count), teardown: teardown.baseAddress, teardown_count: Int64(teardown.count),
                        registers: Int64(stream.registers), fields: Int64(stream.fields), fixed_objects: Int64(stream.fixedObjects),
                        region_objects: Int64(stream.regionObjects))
                    switch steps {
                    case .noop:
                        return crefscale_yardstick_run_noop(&program, Int64(passes), &counts)
                    case .atomic:
                        return crefscale_yardstick_run_atomic(&program, Int64(passes), &counts)
                    case .biased:
                        return crefscale_yardstick_run_biased(&program, Int64(passes), &counts)
                    case .handleLocal(let index, let release):
                        var table = table(index, release)
                        return crefscale_yardstick_run_handle_local(&program, &table, Int64(passes), &counts)
                    }
                }
            }
        }
        return Run(steps: steps, status: status, counts: counts, operations: passes * stream.passOperations)
    }

    /// `private`'s hot path under `handle-local`: `pairs` dups and closes of one handle with a
    /// slot, in a C loop over the same table steps (`crefscale_yardstick_table_dup_close_loop`).
    public static func dupClosePairs(_ index: HandleIndex = .low3, pairs: Int) -> Run {
        var counts = crefscale_yardstick_counts()
        var table = table(index, .lazy)
        let status = crefscale_yardstick_table_dup_close_loop(&table, Int64(pairs), &counts)
        // The pairs' dups and closes and the final close; one object, born into its slot.
        return Run(
            steps: .handleLocal(index, .lazy), status: status, counts: counts, operations: 2 * pairs, expectedBirths: 1,
            expectedLocalDupClose: 2 * pairs + 1)
    }
}
