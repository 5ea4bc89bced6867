/// A number an extension makes from a C value (`HPyLong_FromLong`, `HPyFloat_FromDouble`), as
/// the `number` operation carries it: its kind, in the operation's flag byte, and its value, in
/// the operation's 32-bit source (an `Int32`, or a `Float`'s bits, widened to a `Double`).
///
/// A scheme that tags immediates may turn it into a handle that is the value (`immediate`);
/// otherwise it is boxed: a cached small int (CPython's `_PyLong_SMALL_INTS`, -5...256, immortal
/// since 3.12: `_PyLong_GetSmallInt` in Include/internal/pycore_long.h) is opened, anything else
/// is allocated and counted like any new object, its value in the payload.
public struct Number: Equatable, Sendable {
    public enum Kind: UInt8, Sendable {
        /// An int the workload draws from its value range: small enough for any tag.
        case int = 0
        /// A float (a `Double` whose value a `Float` holds exactly).
        case float
        /// An object no tag holds (a big int, a string): boxed by every scheme.
        case other
    }

    public var kind: Kind
    /// The C value as the operation carries it: an `Int32`'s or a `Float`'s bits; 0 for `other`.
    public var raw: UInt32

    public static func int(_ value: Int32) -> Number { Number(kind: .int, raw: UInt32(bitPattern: value)) }
    public static func float(_ value: Float) -> Number { Number(kind: .float, raw: value.bitPattern) }
    public static let other = Number(kind: .other, raw: 0)

    public var intValue: Int64 { Int64(Int32(bitPattern: raw)) }
    public var doubleValue: Double { Double(Float(bitPattern: raw)) }

    /// What `read` returns for this number, boxed or immediate: the int's two's-complement bits,
    /// or the `Double`'s bits; 0 for `other`.
    @inline(__always)
    public var bits: UInt64 {
        switch kind {
        case .int: UInt64(bitPattern: intValue)
        case .float: doubleValue.bitPattern
        case .other: 0
        }
    }

    /// One word, for a table entry: the kind above the raw value.
    @inline(__always) public var word: UInt64 { UInt64(kind.rawValue) << 32 | UInt64(raw) }
    @inline(__always) public init(word: UInt64) {
        self.init(kind: Kind(rawValue: UInt8(truncatingIfNeeded: word >> 32)) ?? .other, raw: UInt32(truncatingIfNeeded: word))
    }
    public init(kind: Kind, raw: UInt32) {
        self.kind = kind
        self.raw = raw
    }

    /// CPython's cache of small ints: `_PY_NSMALLNEGINTS` and `_PY_NSMALLPOSINTS` (5 and 257).
    public static let smallIntRange: ClosedRange<Int64> = -5...256
    /// The pool objects a workload that makes numbers reserves first, one per cached int.
    public static var cachedIntCount: Int { smallIntRange.count }

    /// The pool index of the cached int this number is, or nil.
    @inline(__always)
    public var cachedIntIndex: Int? {
        guard kind == .int, Number.smallIntRange.contains(intValue) else { return nil }
        return Int(intValue - Number.smallIntRange.lowerBound)
    }
}

extension Operation {
    /// Makes `number` and puts its handle in `register`: an immediate if the scheme tags it,
    /// else a cached small int or a new object (`Number`).
    public static func number(_ number: Number, into register: Int) -> Operation {
        Operation(.number, register: register, source: Int(number.raw), flags: ObjectFlags(rawValue: number.kind.rawValue))
    }

    /// The number a `number` operation makes.
    @inline(__always)
    var number: Number {
        Number(kind: Number.Kind(rawValue: flags.rawValue) ?? .other, raw: UInt32(truncatingIfNeeded: bits >> 32))
    }
}
