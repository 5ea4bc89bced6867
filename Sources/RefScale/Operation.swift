/// One operation of a thread's stream, packed in 64 bits so the hot loop reads one word:
///
///     bits  0..<8   the operation code
///     bits  8..<32  the target register (where a made handle goes, or the handle to use)
///     bits 32..<64  the source: a register (dup) or a pool index (new, open)
///
/// Registers are the thread's handles in flight, a small array the kernel indexes.
public struct Operation: Equatable, Sendable {
    public var bits: UInt64

    public enum Code: UInt8, Sendable {
        case new = 0, newImmortal, open, dup, close, read
        /// A dup of the source register whose result is closed at once: two handle operations
        /// in one entry, so the new handle stays in a CPU register, as in compiled extension code.
        case dupClose
    }

    @inline(__always)
    init(_ code: Code, register: Int, source: Int = 0) {
        bits = UInt64(code.rawValue) | UInt64(register) << 8 | UInt64(source) << 32
    }

    @inline(__always) var code: UInt8 { UInt8(truncatingIfNeeded: bits) }
    @inline(__always) var register: Int { Int(truncatingIfNeeded: (bits >> 8) & 0xFF_FFFF) }
    @inline(__always) var source: Int { Int(truncatingIfNeeded: bits >> 32) }

    /// Bears pool object `object` and puts its first handle in `register`.
    public static func new(object: Int, into register: Int, immortal: Bool = false) -> Operation {
        Operation(immortal ? .newImmortal : .new, register: register, source: object)
    }
    public static func open(object: Int, into register: Int) -> Operation { Operation(.open, register: register, source: object) }
    public static func dup(_ source: Int, into register: Int) -> Operation { Operation(.dup, register: register, source: source) }
    public static func close(_ register: Int) -> Operation { Operation(.close, register: register) }
    public static func read(_ register: Int) -> Operation { Operation(.read, register: register) }
    public static func dupClose(_ source: Int) -> Operation { Operation(.dupClose, register: 0, source: source) }

    /// The handle operations this entry performs.
    public var handleOperations: Int { code == Code.dupClose.rawValue ? 2 : 1 }
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
