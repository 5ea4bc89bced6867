/// NaN boxing for the 64-bit handles of `arena` and `handle-table` (`--nan-boxing on`), as
/// GraalPy boxes HPy handles (GraalHPyBoxing.java and hpy_native.c in graalpython): ints and
/// doubles are immediates, never allocated, never counted.
///
///     handle bits                       meaning
///     0 ..< 2^48                        a handle of the scheme (an index, or an address)
///     0x0001 in bits 48..63             an int; its 32 bits in bits 0..<32 (NAN_BOXING_INT)
///     >= 0x0007_0000_0000_0000          a double, its bits plus NAN_BOXING_BASE (wrapping)
///
/// Adding the base moves every double out of the handles' range: the doubles that would wrap
/// into it are the NaNs with the sign bit and a payload above 0xfff9_0000_0000_0000, which no
/// arithmetic makes. GraalPy's handles are indices up to 0x7fff_ffff (NAN_BOXING_MAX_HANDLE); here
/// a handle is below 2^48, because `arena`'s non-local handles are x86-64 user addresses.
enum NaNBoxing {
    /// Added to a double's bits (`NAN_BOXING_BASE`).
    static let doubleBase: UInt64 = 0x0007_0000_0000_0000
    /// The top 16 bits of a boxed int (`NAN_BOXING_INT`), and their mask (`NAN_BOXING_MASK`).
    static let intTag: UInt64 = 0x0001_0000_0000_0000
    static let tagMask: UInt64 = 0xFFFF_0000_0000_0000
    /// The int's bits (`NAN_BOXING_INT_MASK`).
    static let intMask: UInt64 = 0xFFFF_FFFF
    /// Every handle of the scheme is below this.
    static let handleLimit: UInt64 = 1 << 48

    /// Whether an arena or handle-table handle is an immediate: one comparison.
    @inline(__always)
    static func isImmediate(_ handle: Handle) -> Bool { handle.bits >= handleLimit }

    /// The handle that is `number`, or `Handle.null` for an object no box holds.
    @inline(__always)
    static func immediate(_ number: Number) -> Handle {
        switch number.kind {
        case .int: Handle(bits: UInt64(number.raw) | intTag)
        case .float: Handle(bits: number.bits &+ doubleBase)
        case .other: .null
        }
    }

    /// What `read` returns for an immediate: the number's bits (`Number.bits`).
    @inline(__always)
    static func value(of handle: Handle) -> UInt64 {
        if handle.bits & tagMask == intTag {
            return UInt64(bitPattern: Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: handle.bits))))
        }
        return handle.bits &- doubleBase
    }

    static var option: DeclaredOption<NaNBoxingMode> { NaNBoxingMode.option }
}

public enum NaNBoxingMode: String, CaseIterable, Sendable, OptionValueConvertible {
    case off, on

    /// `--nan-boxing`, declared by the schemes whose handles leave room for it.
    public static let option = DeclaredOption<NaNBoxingMode>(
        "nan_boxing", default: .off, help: "arena, handle-table: ints and doubles as immediates in the handle (GraalPy's NaN boxing)",
        refusedElsewhere: "NaN boxing needs a scheme whose handles are 64-bit indices (arena, handle-table)")
}
