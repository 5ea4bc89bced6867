import CRefScale
import Glibc
import Synchronization

/// What one thread's operations work on: its registers (handles in flight), its fields and the
/// run's globals (non-local references, as object addresses, 0 = empty), its names (addresses of
/// objects it allocated, which hold no reference), the pool and the channels. Raw pointers only,
/// so the hot loop holds no class reference.
struct ThreadMemory {
    let registers: UnsafeMutablePointer<Handle>
    let fields: UnsafeMutablePointer<UInt>
    let names: UnsafeMutablePointer<UInt>
    let globals: UnsafeMutablePointer<UInt>
    let pool: ObjectPool
    let channels: Channels
    /// The channel the thread takes from while it waits to send, or -1.
    let inbox: Int
    let threadID: Int
    let mailboxes: Mailboxes

    @inline(__always)
    func slot(_ encoded: Int) -> UnsafeMutablePointer<UInt> {
        encoded & Slot.globalBit != 0 ? globals + (encoded & ~Slot.globalBit) : fields + encoded
    }

    /// The object an `open`, `retain` or `release` names: a pool index, or a name.
    @inline(__always)
    func object(_ source: Int) -> ObjectRef {
        source & Operation.namedBit != 0
            ? ObjectRef(address: UnsafeMutableRawPointer(bitPattern: names[source & ~Operation.namedBit])!)
            : pool[source]
    }
}

/// The hot loop: performs a run of operations on one scheme. Generic over the scheme and
/// specialised for each one in this module, so every scheme call is inlined and no existential,
/// class reference or Swift reference count appears in it. Returns the handle operations that
/// entries with a count known only when they run (`receiveAll`) performed, less those of a pass
/// abandoned at a `receive` that can never be served.
///
/// The frequent kinds are tested first. One `switch` over every kind cost `noop` 1.65 ns/op
/// here; testing the frequent kinds first, 0.85 (the compiler may still make a jump table of
/// them). `retain` and `release` by pool index are frequent in a replayed trace (the
/// interpreter's own counts), so they are among the first.
@inline(__always)
func execute<S: CountingScheme>(
    _ operations: UnsafeBufferPointer<Operation>,
    on scheme: inout S,
    memory: ThreadMemory,
    checksum: inout UInt64
) -> Int {
    let registers = memory.registers
    var counted = 0
    for index in operations.indices {
        let operation = operations[index]
        let code = operation.code
        let isDupClose = code == Operation.Code.dupClose.rawValue
        if S.callsThroughTable ? _fastPath(isDupClose) : isDupClose {
            scheme.close(scheme.dup(registers[operation.source]))
        } else if code == Operation.Code.dup.rawValue {
            registers[operation.register] = scheme.dup(registers[operation.source])
        } else if code == Operation.Code.close.rawValue {
            scheme.close(registers[operation.register])
        } else if code == Operation.Code.read.rawValue {
            checksum &+= scheme.read(registers[operation.register])
        } else if code == Operation.Code.open.rawValue {
            registers[operation.register] = scheme.open(memory.object(operation.source))
        } else if code == Operation.Code.retain.rawValue {
            scheme.retain(memory.object(operation.source))
        } else if code == Operation.Code.release.rawValue {
            scheme.release(memory.object(operation.source))
        } else {
            let performed = executeRare(operation, on: &scheme, memory: memory)
            if performed < 0 {
                return counted - abandon(operations[(index + 1)...], on: &scheme)
            }
            counted &+= performed
        }
    }
    return counted
}

/// The rest of a pass that cannot go on (its producer stopped before sending what a `receive`
/// waits for; no handle is held across a receive): only its scope exits run. Returns the handle
/// operations not performed (the receive and the rest), which the caller subtracts from the
/// pass's count.
@inline(never)
func abandon<S: CountingScheme>(_ rest: Slice<UnsafeBufferPointer<Operation>>, on scheme: inout S) -> Int {
    for operation in rest where operation.code == Operation.Code.exit.rawValue { scheme.exitScope() }
    return rest.reduce(1) { $0 + $1.handleOperations }
}

@inline(__always)
func executeRare<S: CountingScheme>(_ operation: Operation, on scheme: inout S, memory: ThreadMemory) -> Int {
    let register = operation.register
    switch operation.code {
    case Operation.Code.new.rawValue:
        memory.registers[register] = scheme.new(memory.pool.bear(operation.source, flags: operation.flags))
    case Operation.Code.create.rawValue:
        let type = operation.source == 0 ? 0 : UInt(bitPattern: memory.pool[operation.source - 1].address)
        memory.registers[register] = scheme.new(allocate(flags: operation.flags, type: type, on: &scheme, memory: memory))
    case Operation.Code.createNamed.rawValue:
        let object = allocate(flags: operation.flags, type: 0, on: &scheme, memory: memory)
        memory.names[operation.source] = UInt(bitPattern: object.address)
        memory.registers[register] = scheme.new(object)
    case Operation.Code.enter.rawValue:
        memory.pool.dropLedger(thread: memory.threadID).move(toPassOffset: operation.source)
        scheme.enterScope()
    case Operation.Code.exit.rawValue:
        memory.pool.dropLedger(thread: memory.threadID).move(toPassOffset: operation.source)
        scheme.exitScope()
    case Operation.Code.closeLast.rawValue:
        let ledger = memory.pool.dropLedger(thread: memory.threadID)
        ledger.move(toPassOffset: operation.source)
        ledger.lastReferenceDropped(scheme.object(of: memory.registers[register]))
        scheme.close(memory.registers[register])
    case Operation.Code.ret.rawValue:
        memory.registers[register] = scheme.returning(memory.registers[register])
    case Operation.Code.store.rawValue:
        let slot = memory.slot(operation.source)
        let previous = slot.pointee
        let object = scheme.object(of: memory.registers[register])
        scheme.retain(object)
        slot.pointee = UInt(bitPattern: object.address)
        if previous != 0 {
            let dropped = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: previous)!)
            if operation.dropsLast { memory.pool.dropLedger(thread: memory.threadID).lastReferenceDropped(dropped) }
            scheme.release(dropped)
        }
    case Operation.Code.load.rawValue:
        let slot = memory.slot(operation.source)
        precondition(slot.pointee != 0, "load from an empty slot")
        memory.registers[register] = scheme.load(from: slot)
    case Operation.Code.clear.rawValue:
        let slot = memory.slot(operation.source)
        if slot.pointee != 0 {
            let dropped = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: slot.pointee)!)
            if operation.dropsLast { memory.pool.dropLedger(thread: memory.threadID).lastReferenceDropped(dropped) }
            scheme.release(dropped)
            slot.pointee = 0
        }
    case Operation.Code.send.rawValue:
        return memory.channels.send(memory.registers[register], to: operation.source, inbox: memory.inbox, on: &scheme)
    case Operation.Code.receive.rawValue:
        guard let handle = memory.channels.receive(from: operation.source, on: &scheme) else { return -1 }
        memory.registers[register] = handle
    case Operation.Code.receiveAll.rawValue:
        return memory.channels.receiveAll(
            from: operation.source, on: &scheme, ledger: operation.dropsLast ? memory.pool.dropLedger(thread: memory.threadID) : nil)
    case Operation.Code.finishSending.rawValue:
        memory.channels.finishSending(to: operation.source)
    case Operation.Code.drain.rawValue:
        memory.channels.drain(operation.source, on: &scheme)
    case Operation.Code.storeUnconverted.rawValue:
        scheme.escapeUnconverted(memory.registers[register], to: operation.source & Slot.globalBit != 0 ? .global : .field)
    case Operation.Code.sendUnconverted.rawValue:
        scheme.escapeUnconverted(memory.registers[register], to: .channel)
    case Operation.Code.publishHandle.rawValue:
        memory.mailboxes.handles[operation.source].store(memory.registers[register].bits, ordering: .releasing)
    case Operation.Code.readForeignHandle.rawValue:
        _ = scheme.read(Handle(bits: memory.mailboxes.handles[operation.source].load(ordering: .acquiring)))
    case Operation.Code.publishContext.rawValue:
        memory.mailboxes.publish(scheme, in: operation.source)
    case Operation.Code.readThroughForeignContext.rawValue:
        _ = memory.mailboxes.context(operation.source, as: S.self).read(memory.registers[register])
    case Operation.Code.hpy.rawValue:
        return HPyCalls.perform(operation, on: &scheme, memory: memory)
    case Operation.Code.number.rawValue:
        memory.registers[register] = makeNumber(operation.number, on: &scheme, memory: memory)
    default:
        preconditionFailure("unknown operation code \(operation.code)")
    }
    return 0
}

/// A number's handle: the scheme's immediate, else the cached small int (pool object
/// `cachedIntIndex`, immortal), else a new object from the thread's region holding the value.
@inline(__always)
func makeNumber<S: CountingScheme>(_ number: Number, on scheme: inout S, memory: ThreadMemory) -> Handle {
    let immediate = scheme.immediate(number)
    if immediate != .null { return immediate }
    if let cached = number.cachedIntIndex { return scheme.open(memory.pool[cached]) }
    let object = allocate(flags: [], type: 0, on: &scheme, memory: memory)
    object.payload = number.bits
    return scheme.new(object)
}

/// An object from the thread's region. When the region is used up, the objects are on their way
/// back (in another thread's hands, or freed there and waiting in this thread's merge queue):
/// run a safe point and wait for them. Each wait is counted (`ObjectPool.regionWaits`): a
/// workload's region is sized so that a run at its default options never waits.
///
/// Inlined into the kernel, with the wait out of line: called out of line, it copied the
/// thread's memory block (`memcpy`, about 29 instructions) at every birth, in every scheme.
@inline(__always)
func allocate<S: CountingScheme>(flags: ObjectFlags, type: UInt, on scheme: inout S, memory: ThreadMemory) -> ObjectRef {
    if let object = memory.pool.allocate(thread: memory.threadID, flags: flags, type: type) { return object }
    return allocateAfterWaiting(flags: flags, type: type, on: &scheme, memory: memory)
}

@inline(never)
func allocateAfterWaiting<S: CountingScheme>(flags: ObjectFlags, type: UInt, on scheme: inout S, memory: ThreadMemory) -> ObjectRef {
    memory.pool.noteRegionWait(thread: memory.threadID)
    let deadline = crefscale_clock_monotonic_ns() + 10_000_000_000
    scheme.suspend()
    while crefscale_clock_monotonic_ns() < deadline {
        scheme.safePoint()
        if let object = memory.pool.allocate(thread: memory.threadID, flags: flags, type: type) {
            scheme.resume()
            return object
        }
        sched_yield()
    }
    preconditionFailure("thread \(memory.threadID): its region of the object pool stayed exhausted for 10 s")
}
