/// One operation of a thread's stream, packed in 64 bits so the hot loop reads one word:
///
///     bits  0..<8   the operation code
///     bits  8..<16  flags of a new object (`ObjectFlags`)
///     bits 16..<32  the target register (where a made handle goes, or the handle to use)
///     bits 32..<64  the source: a register (dup), a pool index (new; open, retain and release:
///                   or with `namedBit` a name; create: the type's pool index plus one,
///                   0 for none; createNamed: the name), a slot (store, load, clear) or a channel
///                   (send, receive, drain)
///
/// Registers are the thread's handles in flight, a small array the kernel indexes. Slots hold
/// non-local references (HPyField and HPyGlobal): the thread's own fields, or the run's globals
/// that every thread reads. Names are the thread's own words holding the addresses of objects it
/// allocated (`createNamed`), so a stream can name an object whose place the allocator picks
/// when the run makes it.
public struct Operation: Equatable, Sendable {
    public var bits: UInt64

    public enum Code: UInt8, Sendable {
        case new = 0, open, dup, close, read
        /// The start and the end of a simulated extension call (a scope).
        case enter, exit
        /// A dup of the source register whose result is closed at once: two handle operations
        /// in one entry, so the new handle stays in a CPU register, as in compiled extension code.
        case dupClose
        /// Allocates a fresh or recycled object from the thread's region (`new` without an index).
        case create
        /// Stores the register's object into a slot (taking a non-local reference; the slot's
        /// previous reference ends); loads a new handle from a slot; ends a slot's reference.
        case store, load, clear
        /// Hands the register's object to another thread through a channel (the handle ends);
        /// takes one object from a channel into a register, waiting for it.
        case send, receive
        /// Takes every object waiting in a channel now and closes each (a receive and a close per
        /// object): the remote frees of `churn`. Never waits.
        case receiveAll
        /// The extension call returns the register's handle to its caller.
        case ret
        /// Teardown: the producer has sent its last object; the consumer stops, waits for the
        /// producer to finish, and takes and closes whatever is left.
        case finishSending, drain
        /// Breaches of the handle contract, for `stress` to inject (no workload of the registry
        /// makes them): the extension keeps the register's handle in a slot, or sends it, as it
        /// is (the kernel tells the context, `escapeUnconverted`, and keeps and sends nothing).
        case storeUnconverted, sendUnconverted
        /// Puts the register's handle bits in a mailbox, for another thread to use
        /// (`readForeignHandle`, a wrong-thread use); puts a copy of the thread's context in a
        /// mailbox, for another thread to call (`readThroughForeignContext`, a wrong-context use).
        /// Both publish before the start barrier, in the set-up.
        case publishHandle, readForeignHandle, publishContext, readThroughForeignContext
        /// A `close` that ends the last reference the stream holds to an object it made
        /// (`LastDrops` rewrites such closes before the run): taken off the frequent path so the
        /// thread can stamp the object for the free-delay ledger. Its source is the entry's
        /// position in the pass, in handle operations.
        case closeLast
        /// Takes, or ends, a non-local reference to pool object `source` (`retain`, `release`): the
        /// count a runtime keeps for its own references, as a replayed trace's interpreter events.
        case retain, release
        /// Makes a number from a C value (`Number`, in the flag byte and the source): an
        /// immediate where the scheme tags it, a cached small int or a new object where not.
        case number
        /// Allocates a fresh or recycled object from the thread's region, as `create`, and
        /// records its address under the name `source`: later entries reach it by that name
        /// (`named(_:)`) until the name is given to the next object.
        case createNamed
        /// A step of an HPy module's run (`HPyStep`, in the register field; the plan in the
        /// source): calls into a real extension through refscale's HPyContext.
        case hpy
    }

    /// In the source of `open`, `retain` and `release`: the rest is a name (the object the
    /// thread recorded under it at its last `createNamed`), not a pool index.
    static let namedBit = 1 << 31

    /// The source naming the object recorded under `name`.
    public static func named(_ name: Int) -> Int {
        precondition(name >= 0 && name < namedBit, "name \(name) out of range")
        return name | namedBit
    }

    /// In the flags byte of a `store`, `clear` or `receiveAll` (which make no object): the
    /// reference it ends is the last one the stream holds to the object (`LastDrops`).
    static let dropsLastFlag: UInt8 = 0x80

    @inline(__always) var dropsLast: Bool { UInt8(truncatingIfNeeded: bits >> 8) & Operation.dropsLastFlag != 0 }

    public static let registerLimit = 1 << 16

    @inline(__always)
    init(_ code: Code, register: Int, source: Int = 0, flags: ObjectFlags = []) {
        precondition(register >= 0 && register < Operation.registerLimit, "register \(register) out of range")
        bits = UInt64(code.rawValue) | UInt64(flags.rawValue) << 8 | UInt64(register) << 16 | UInt64(UInt32(source)) << 32
    }

    @inline(__always) public var code: UInt8 { UInt8(truncatingIfNeeded: bits) }
    @inline(__always) public var flags: ObjectFlags { ObjectFlags(rawValue: UInt8(truncatingIfNeeded: bits >> 8)) }
    @inline(__always) public var register: Int { Int(truncatingIfNeeded: (bits >> 16) & 0xFFFF) }
    @inline(__always) public var source: Int { Int(truncatingIfNeeded: bits >> 32) }

    /// Bears pool object `object` and puts its first handle in `register`.
    public static func new(object: Int, into register: Int, flags: ObjectFlags = []) -> Operation {
        Operation(.new, register: register, source: object, flags: flags)
    }
    public static func open(object: Int, into register: Int) -> Operation { Operation(.open, register: register, source: object) }
    public static func dup(_ source: Int, into register: Int) -> Operation { Operation(.dup, register: register, source: source) }
    public static func close(_ register: Int) -> Operation { Operation(.close, register: register) }
    static func closeLast(_ register: Int, at position: Int) -> Operation { Operation(.closeLast, register: register, source: position) }
    public static func read(_ register: Int) -> Operation { Operation(.read, register: register) }
    public static func dupClose(_ source: Int) -> Operation { Operation(.dupClose, register: 0, source: source) }
    public static let enter = Operation(.enter, register: 0)
    public static let exit = Operation(.exit, register: 0)
    /// `type`: the pool index of the new object's type object, whose reference the runtime takes
    /// at allocation and drops at deallocation; nil for a static type, which is not counted.
    public static func create(into register: Int, flags: ObjectFlags = [], type: Int? = nil) -> Operation {
        Operation(.create, register: register, source: type.map { $0 + 1 } ?? 0, flags: flags)
    }
    /// An object from the thread's region, recorded under `name`, its first handle in `register`.
    public static func createNamed(_ name: Int, into register: Int, flags: ObjectFlags = []) -> Operation {
        Operation(.createNamed, register: register, source: name, flags: flags)
    }
    public static func store(_ register: Int, into slot: Slot) -> Operation { Operation(.store, register: register, source: slot.encoded) }
    public static func load(_ slot: Slot, into register: Int) -> Operation { Operation(.load, register: register, source: slot.encoded) }
    public static func clear(_ slot: Slot) -> Operation { Operation(.clear, register: 0, source: slot.encoded) }
    public static func send(_ register: Int, to channel: Int) -> Operation { Operation(.send, register: register, source: channel) }
    public static func receive(from channel: Int, into register: Int) -> Operation {
        Operation(.receive, register: register, source: channel)
    }
    public static func receiveAll(from channel: Int) -> Operation { Operation(.receiveAll, register: 0, source: channel) }
    public static func ret(_ register: Int) -> Operation { Operation(.ret, register: register) }
    public static func finishSending(to channel: Int) -> Operation { Operation(.finishSending, register: 0, source: channel) }
    public static func drain(_ channel: Int) -> Operation { Operation(.drain, register: 0, source: channel) }
    public static func storeUnconverted(_ register: Int, into slot: Slot) -> Operation {
        Operation(.storeUnconverted, register: register, source: slot.encoded)
    }
    public static func sendUnconverted(_ register: Int, to channel: Int) -> Operation {
        Operation(.sendUnconverted, register: register, source: channel)
    }
    public static func publishHandle(_ register: Int, in mailbox: Int) -> Operation {
        Operation(.publishHandle, register: register, source: mailbox)
    }
    /// A read, through the thread's own context, of the handle another thread published.
    public static func readForeignHandle(from mailbox: Int) -> Operation { Operation(.readForeignHandle, register: 0, source: mailbox) }
    public static func publishContext(in mailbox: Int) -> Operation { Operation(.publishContext, register: 0, source: mailbox) }
    /// A read of the register's handle through the context another thread published.
    public static func readThroughForeignContext(from mailbox: Int, _ register: Int) -> Operation {
        Operation(.readThroughForeignContext, register: register, source: mailbox)
    }

    public static func hpy(_ step: HPyStep, plan: Int) -> Operation { Operation(.hpy, register: step.rawValue, source: plan) }

    public static func retain(object: Int) -> Operation { Operation(.retain, register: 0, source: object) }
    public static func release(object: Int) -> Operation { Operation(.release, register: 0, source: object) }

    /// The handle operations this entry performs; scope events and channel bookkeeping are not
    /// handle operations, and `receiveAll` and `hpy` count what they did when they run.
    public var handleOperations: Int {
        switch code {
        case Code.dupClose.rawValue: 2
        case Code.enter.rawValue, Code.exit.rawValue, Code.ret.rawValue, Code.receiveAll.rawValue,
             Code.finishSending.rawValue, Code.drain.rawValue, Code.publishHandle.rawValue, Code.publishContext.rawValue,
             Code.hpy.rawValue: 0
        default: 1
        }
    }
}

/// Where a non-local reference is kept: one of the thread's own fields, or a global of the run.
public enum Slot: Equatable, Sendable {
    case field(Int)
    case global(Int)

    static let globalBit = 1 << 31

    var encoded: Int {
        switch self {
        case .field(let index): index
        case .global(let index): index | Slot.globalBit
        }
    }
}

/// What one thread does in a run. `setup` runs before the start barrier, `pass` runs again and
/// again during the timed interval and leaves every register as it found it, `teardown` runs
/// after the stop and closes every handle the thread still holds.
public struct ThreadProgram: Sendable {
    public var registers: Int
    /// The thread's own slots (fields of the objects it keeps).
    public var fields = 0
    /// The names its stream gives the objects it allocates (`createNamed`).
    public var names = 0
    /// The channel this thread takes from while it waits to send, or -1.
    public var inbox = -1
    public var setup: [Operation]
    public var pass: [Operation]
    public var teardown: [Operation]
    /// The handle operations one pass performs.
    public let passOperations: Int
    /// The handles one pass opens on objects it reaches (`open`, and `load` from a slot): the
    /// handles an extension call is given or fetches, as opposed to those it duplicates or makes.
    public let passOpens: Int

    public init(
        registers: Int = 0, fields: Int = 0, names: Int = 0, inbox: Int = -1, setup: [Operation] = [],
        pass: [Operation] = [], teardown: [Operation] = []
    ) {
        self.registers = registers
        self.fields = fields
        self.names = names
        self.inbox = inbox
        self.setup = setup
        self.pass = pass
        self.teardown = teardown
        passOperations = pass.reduce(0) { $0 + $1.handleOperations }
        passOpens = pass.count { $0.code == Operation.Code.open.rawValue || $0.code == Operation.Code.load.rawValue }
    }
}

/// FNV-1a (64 bits) over every operation of every thread's program, in thread order.
public struct StreamDigest {
    public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    public init() {}

    public mutating func add(_ program: ThreadProgram) {
        for word in [UInt64(program.registers), UInt64(program.fields), UInt64(program.names), UInt64(bitPattern: Int64(program.inbox))] {
            add(word)
        }
        for part in [program.setup, program.pass, program.teardown] {
            add(UInt64(part.count))
            part.forEach { add($0.bits) }
        }
    }

    mutating func add(_ word: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) {
            value = (value ^ (word >> UInt64(shift) & 0xFF)) &* 0x0000_0100_0000_01B3
        }
    }
}
