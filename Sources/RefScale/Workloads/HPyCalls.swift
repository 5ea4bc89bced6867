import CHPyContext
import Glibc

/// The steps of `hpy`'s streams (`Operation.hpy`), each run in the thread's `HPyContext`
/// (`chpy_thread_current`) bound to the thread's scheme through its universal table, so the
/// module reaches the scheme as it reaches any HPy implementation: through its context. Under
/// `direct` the table is the scheme's own; under `debug` and `trace` it is theirs, so every
/// handle the module makes, dups, closes or keeps is checked or counted as the kernel's are.
public enum HPyStep: Int, Sendable {
    /// Main thread: the builtins, the module object (kept in global 0), one trial call.
    case mainSetup
    /// Worker: `self` into field 0 and the arguments into fields 1...n.
    case workerSetup
    /// One call of the function with the handles in registers 0 (self) and 1...n.
    case call
    /// Worker, after its fields are cleared: closes its constants, ends what dead holders kept.
    case workerTeardown
    /// Main thread, after global 0 is cleared: ends the module's HPyGlobals and what dead holders
    /// kept.
    case mainTeardown
    /// Main thread, last: safe points that let go of everything deferred (`settle`: a lazy table
    /// flushes) and ends of what dead holders kept, in turn, until a safe point frees no holder.
    case settle
}

/// A module, function and arguments loaded for runs: loaded once per process, since a library
/// once opened stays open.
struct HPyPlan {
    let module: OpaquePointer
    let arguments: [UnsafeMutablePointer<CChar>]
    let label: String
}

/// The plans of the process. Appended to by the main thread before a run; read by its threads,
/// which start after it.
enum HPyPlans {
    private static let loaded = LockedValue<[HPyPlan]>([])
    nonisolated(unsafe) static var snapshot: [HPyPlan] = []

    static func plan(path: String, function: String, arguments: [String]) throws -> Int {
        let label = "\(path) \(function)(\(arguments.joined(separator: ", ")))"
        return try loaded.withLock { plans in
            if let index = plans.firstIndex(where: { $0.label == label }) { return index }
            var error = [CChar](repeating: 0, count: 1024)
            guard let module = chpy_module_load(path, function, &error, error.count) else {
                throw ConfigurationError(option: "module", String(cString: error))
            }
            let keywords = arguments.last?.hasPrefix("kw:") == true
            if let misplaced = arguments.dropLast().first(where: { $0.hasPrefix("kw:") }) {
                throw ConfigurationError(option: "hpy_args", "'\(misplaced)': the keywords (kw:) must be the last argument")
            }
            if keywords && chpy_module_take_keywords(module) == 0 {
                throw ConfigurationError(
                    option: "hpy_args", "'\(arguments.last!)': keywords (kw:) are given only to a type called (--function Type), not to \(function)")
            }
            if chpy_module_arity_known(module) != 0 {
                let arity = Int(chpy_module_arity(module))
                if arity >= 0 && arity != arguments.count {
                    throw ConfigurationError(
                        option: "hpy_args", "gives \(arguments.count) argument(s); \(function) takes \(arity)")
                }
            }
            plans.append(HPyPlan(module: module, arguments: arguments.map { strdup($0)! }, label: label))
            snapshot = plans
            return plans.count - 1
        }
    }
}

/// What the context's allocator reaches: the thread's region of the run's pool.
struct HPyAllocator {
    let pool: ObjectPool
    let threadID: Int

    static let allocate: chpy_allocate = { allocator, word in
        // Read in place: a copy of the allocator would copy the pool and retain what it holds.
        let region = allocator.assumingMemoryBound(to: HPyAllocator.self)
        let flags: ObjectFlags = word & 1 != 0 ? .holdsRecord : []
        guard let object = region.pointee.pool.allocate(thread: region.pointee.threadID, flags: flags, type: UInt(word & ~1)) else {
            return 0
        }
        return object.word
    }
}

extension TableCaller {
    var hpyScheme: chpy_scheme {
        let entries = table.pointee
        return chpy_scheme(
            new_object: entries.new, open: entries.open, dup: entries.dup, close: entries.close, object: entries.object,
            retain: entries.retain, release: entries.release, state: state)
    }
}

enum HPyCalls {
    /// Runs one step on the thread's scheme; returns the handle operations it made (those of the
    /// call, for `call`).
    static func perform<S: CountingScheme>(_ operation: Operation, on scheme: inout S, memory: ThreadMemory) -> Int {
        if operation.register == HPyStep.call.rawValue {
            return scheme.withTableCaller { call(caller: $0, memory: memory) }
        }
        guard operation.register == HPyStep.settle.rawValue else {
            return scheme.withTableCaller { perform(operation, caller: $0, memory: memory) }
        }
        repeat {
            scheme.settle()
        } while scheme.withTableCaller({ drain(caller: $0, memory: memory) }) > 0
        return 0
    }

    /// Ends what dead holders kept; returns how many references it ended.
    static func drain(caller: TableCaller, memory: ThreadMemory) -> Int {
        var allocator = HPyAllocator(pool: memory.pool, threadID: memory.threadID)
        return withUnsafeMutablePointer(to: &allocator) { allocator in
            let thread = chpy_thread_current()
            chpy_thread_bind(thread, caller.hpyScheme, HPyAllocator.allocate, allocator)
            let before = chpy_thread_counts(thread).release
            chpy_drain(thread)
            return Int(chpy_thread_counts(thread).release - before)
        }
    }

    /// A worker's call in the timed loop: what it reaches was bound at the worker's set-up
    /// (`chpy_thread_bind_calls`), so the call copies no plan or pool and takes no reference.
    @inline(__always)
    static func call(caller: TableCaller, memory: ThreadMemory) -> Int {
        memory.registers.withMemoryRebound(to: UInt64.self, capacity: 1) { registers in
            Int(chpy_call_bound(chpy_thread_current(), caller.state, registers))
        }
    }

    static func perform(_ operation: Operation, caller: TableCaller, memory: ThreadMemory) -> Int {
        let plan = HPyPlans.snapshot[operation.source]
        var allocator = HPyAllocator(pool: memory.pool, threadID: memory.threadID)
        return withUnsafeMutablePointer(to: &allocator) { allocator in
            let thread = chpy_thread_current()
            chpy_thread_bind(thread, caller.hpyScheme, HPyAllocator.allocate, allocator)
            switch HPyStep(rawValue: operation.register)! {
            case .call:
                preconditionFailure("a worker's call runs through call(caller:memory:)")
            case .mainSetup:
                mainSetup(plan, thread: thread, caller: caller, memory: memory)
            case .workerSetup:
                chpy_open_constants(thread)
                let module = caller.load(from: memory.globals)
                keep(chpy_module_self(thread, plan.module, module.bits), in: memory.fields, caller: caller)
                for (index, text) in plan.arguments.enumerated() {
                    keep(chpy_make_argument(thread, module.bits, text), in: memory.fields + 1 + index, caller: caller)
                }
                caller.close(module)
                let calls = UnsafeMutablePointer<HPyAllocator>.allocate(capacity: 1)
                calls.initialize(to: allocator.pointee)
                chpy_thread_bind_calls(thread, caller.hpyScheme, plan.module, plan.arguments.count, HPyAllocator.allocate, calls)
                chpy_calls_begin(thread)
            case .workerTeardown:
                chpy_calls_end(thread)
                if let calls = chpy_thread_unbind_calls(thread) {
                    let allocator = calls.assumingMemoryBound(to: HPyAllocator.self)
                    allocator.deinitialize(count: 1)
                    allocator.deallocate()
                }
                chpy_close_constants(thread)
                chpy_drain(thread)
            case .mainTeardown:
                chpy_module_clear_globals(thread, plan.module)
                chpy_close_constants(thread)
                chpy_drain(thread)
            case .settle:
                preconditionFailure("settle runs on the scheme (perform(_:on:memory:))")
            }
            return 0
        }
    }

    /// Keeps the object of `handle` in `slot` (a non-local reference) and closes the handle; a
    /// failed step (handle 0) keeps nothing, and the run stops on its failure.
    static func keep(_ handle: UInt64, in slot: UnsafeMutablePointer<UInt>, caller: TableCaller) {
        guard handle != 0 else { return }
        let object = caller.object(of: Handle(bits: handle))
        caller.retain(object)
        slot.pointee = UInt(bitPattern: object.address)
        caller.close(Handle(bits: handle))
    }

    static func mainSetup(_ plan: HPyPlan, thread: OpaquePointer, caller: TableCaller, memory: ThreadMemory) {
        let objects = Builtin.allCases.map { memory.pool.bear($0.rawValue, flags: [.immortal, .shared]) }
        for object in objects { caller.close(caller.new(object)) }
        for (builtin, object) in zip(Builtin.allCases, objects) {
            object.typeWord.pointee.store(UInt(bitPattern: objects[builtin.type.rawValue].address), ordering: .relaxed)
        }
        objects[Builtin.trueObject.rawValue].payload = 1
        objects[Builtin.falseObject.rawValue].payload = 0
        var builtins = chpy_builtins(
            none: objects[0].word, true_object: objects[1].word, false_object: objects[2].word, exception: objects[3].word,
            type_type: objects[4].word, object_type: objects[5].word, none_type: objects[6].word, bool_type: objects[7].word,
            int_type: objects[8].word, float_type: objects[9].word, str_type: objects[10].word, tuple_type: objects[11].word,
            list_type: objects[12].word, module_type: objects[13].word, dict_type: objects[14].word)
        chpy_run_begin(&builtins)
        chpy_open_constants(thread)
        caller.enterScope()
        let created = chpy_module_create(thread, plan.module)
        // What the exec slots left open is the module's breach of the contract, not the run's:
        // closed here, inside their scope, on the module's behalf (the debug context reports
        // each as its leak, without counting it), and named once the run goes on.
        for index in 0..<chpy_module_exec_slot_leak_count(plan.module) {
            caller.closeOnBehalf(Handle(bits: chpy_module_exec_slot_leak(plan.module, index)))
        }
        let module = created == 0 ? 0 : caller.returning(Handle(bits: created)).bits
        caller.exitScope()
        guard module != 0 else { return }
        keep(caller.dup(Handle(bits: module)).bits, in: memory.globals, caller: caller)
        let this = chpy_module_self(thread, plan.module, module)
        let arguments = plan.arguments.map { chpy_make_argument(thread, module, $0) }
        caller.close(Handle(bits: module))
        guard this != 0 else {
            for handle in arguments where handle != 0 { caller.close(Handle(bits: handle)) }
            return
        }
        let before = chpy_thread_counts(thread)
        if !arguments.contains(0) {
            caller.enterScope()
            _ = chpy_call(thread, plan.module, this, arguments, arguments.count)
            caller.exitScope()
        }
        let after = chpy_thread_counts(thread)
        for handle in arguments where handle != 0 { caller.close(Handle(bits: handle)) }
        caller.close(Handle(bits: this))
        chpy_drain(thread)
        if chpy_run_failure() == nil { report(plan, before: before, after: after) }
    }

    nonisolated(unsafe) static var reported = Set<String>()

    /// Lines on stderr, once per plan in a process, after its first call succeeded (so a refused
    /// run prints its refusal alone): what one call did, by kind, and what the module's exec
    /// slots left open (each row counts those in `hpy_exec_slot_leaks`).
    static func report(_ plan: HPyPlan, before: chpy_counts, after: chpy_counts) {
        guard reported.insert(plan.label).inserted else { return }
        defer {
            if let leaks = chpy_module_exec_slot_leak_report(plan.module) { fputs(String(cString: leaks) + "\n", stderr) }
        }
        let line = "hpy: one call of \(plan.label): \(after.dup - before.dup) dup, \(after.close - before.close) close, "
            + "\(after.open - before.open) open, \(after.new_object - before.new_object) objects made, "
            + "\(after.retain - before.retain) references kept, \(after.release - before.release) ended\n"
        fputs(line, stderr)
    }
}
