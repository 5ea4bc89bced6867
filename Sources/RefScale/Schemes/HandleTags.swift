/// The tag bits of `handle-local`'s handles (`--tag-bits`): the seed talk's other use of the
/// spare bits, immediates that are never allocated and never counted. They come out of the
/// table index's bits, its lowest ones, so the index keeps the bits above them:
///
///     index   tag bits   tag field         index field        slots
///     low3      1        bit 0             bits 1..<3           3
///     low3      2        bits 0..<2        bit 2                1
///     low4      1        bit 0             bits 1..<4           7
///     low4      2        bits 0..<2        bits 2..<4           3
///     high16    1        bit 48            bits 49..<64     32767
///
/// Invariants:
/// - A handle whose tag field is 0 is an object handle (its index field names a slot, or 0); a
///   handle whose tag field is not 0 is an immediate, whose other bits are the value. So no
///   immediate has the bits of any object handle, whatever its index.
/// - Tag 1 is an int; tag 2 (two tag bits) a float. An int's value sits above the tag field (in
///   the address bits, sign-extended from bit 47, with `high16`); a float's `Double` bits are the
///   handle with the tag field set, so only a float whose bits are 0 below the tag's top is
///   tagged (every value of the `numeric` workload is: a `Float` widened leaves 29 low zeros).
///   Any other number is boxed. PyPy's tagged ints (`rerased`) and HPy's proposal take the low
///   bit the same way; the float tag is this model's choice.
struct HandleTags {
    /// The tag field, in place; 0 without tag bits.
    let mask: UInt64
    /// The position of the tag field's lowest bit.
    let shift: UInt64
    let bitCount: Int
    /// Where an int's value starts; the address bits below 48 for `high16`.
    let valueShift: UInt64
    /// Whether the index sits above the address (`high16`): an int's value then lives in the 48
    /// address bits.
    let valueInAddress: Bool

    /// The tag of an int, and of a float, in the tag field.
    static let intTag: UInt64 = 1
    static let floatTag: UInt64 = 2
    /// The address bits of an x86-64 user address.
    static let addressBits: UInt64 = 48

    init(bitCount: Int, indexShift: Int) {
        self.bitCount = bitCount
        shift = UInt64(indexShift)
        mask = (UInt64(1) << UInt64(bitCount) - 1) << UInt64(indexShift)
        valueInAddress = UInt64(indexShift) >= HandleTags.addressBits
        valueShift = valueInAddress ? 0 : UInt64(indexShift + bitCount)
    }

    /// The slots an index of `index` keeps with `bitCount` tag bits taken from it; 0: none left.
    static func slotCount(_ index: HandleIndex, tagBits: Int) -> Int { (index.slotCount + 1) >> tagBits - 1 }

    @inline(__always)
    func isImmediate(_ handle: Handle) -> Bool { handle.bits & mask != 0 }

    /// The handle that is `number`, or `Handle.null` if this tag field cannot hold it.
    @inline(__always)
    func immediate(_ number: Number) -> Handle {
        switch number.kind {
        case .int where bitCount >= 1:
            let value = number.intValue
            if valueInAddress {
                guard value >> (HandleTags.addressBits - 1) == 0 || value >> (HandleTags.addressBits - 1) == -1 else { return .null }
                return Handle(bits: HandleTags.intTag << shift | UInt64(bitPattern: value) & (1 << HandleTags.addressBits - 1))
            }
            guard (value << valueShift) >> valueShift == value else { return .null }
            return Handle(bits: UInt64(bitPattern: value << valueShift) | HandleTags.intTag << shift)
        case .float where bitCount >= 2 && !valueInAddress:
            let bits = number.bits
            guard bits & (UInt64(1) << valueShift - 1) == 0 else { return .null }
            return Handle(bits: bits | HandleTags.floatTag << shift)
        default:
            return .null
        }
    }

    /// What `read` returns for an immediate: the number's bits (`Number.bits`), as a boxed
    /// number's payload holds them.
    @inline(__always)
    func value(of handle: Handle) -> UInt64 {
        let tag = (handle.bits & mask) >> shift
        if tag == HandleTags.floatTag { return handle.bits & ~mask }
        if valueInAddress {
            let address = handle.bits & (1 << HandleTags.addressBits - 1)
            return UInt64(bitPattern: Int64(bitPattern: address << (64 - HandleTags.addressBits)) >> (64 - HandleTags.addressBits))
        }
        return UInt64(bitPattern: Int64(bitPattern: handle.bits) >> valueShift)
    }
}
