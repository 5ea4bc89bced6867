/// One operation of a thread's stream, packed in 64 bits so the hot loop reads one word:
///
///     bits  0..<8   the operation code
///     bits  8..<16  flags of a new object (`ObjectFlags`)
///     bits 16..<32  the target register (where a made handle goes, or the handle to use)
///     bits 32..<64  the source: a register (dup) or a pool index (new, open)
///
/// Registers are the thread's handles in flight, a small array the kernel indexes.
public struct Operation: Equatable, Sendable {
    public var bits: UInt64

    public enum Code: UInt8, Sendable {
        case new = 0, open, dup, close, read
        /// The start and the end of a simulated extension call (a scope).
        case enter, exit
        /// A dup of the source register whose result is closed at once: two handle operations
        /// in one entry, so the new handle stays in a CPU register, as in compiled extension code.
        case dupClose
    }

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
    public static func read(_ register: Int) -> Operation { Operation(.read, register: register) }
    public static func dupClose(_ source: Int) -> Operation { Operation(.dupClose, register: 0, source: source) }
    public static let enter = Operation(.enter, register: 0)
    public static let exit = Operation(.exit, register: 0)

    /// The handle operations this entry performs; scope events are not handle operations.
    public var handleOperations: Int {
        switch code {
        case Code.dupClose.rawValue: 2
        case Code.enter.rawValue, Code.exit.rawValue: 0
        default: 1
        }
    }
}

/// What one thread does in a run. `setup` runs before the start barrier, `pass` runs again and
/// again during the timed interval and leaves every register as it found it, `teardown` runs
/// after the stop and closes every handle the thread still holds.
public struct ThreadProgram: Sendable {
    public var registers: Int
    public var setup: [Operation]
    public var pass: [Operation]
    public var teardown: [Operation]
    /// The handle operations one pass performs.
    public let passOperations: Int

    public init(registers: Int = 0, setup: [Operation] = [], pass: [Operation] = [], teardown: [Operation] = []) {
        self.registers = registers
        self.setup = setup
        self.pass = pass
        self.teardown = teardown
        passOperations = pass.reduce(0) { $0 + $1.handleOperations }
    }
}
