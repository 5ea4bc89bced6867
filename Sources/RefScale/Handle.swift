/// An opaque 64-bit reference to an object. What the bits mean belongs to the scheme that made
/// it: an object address for the counting schemes, an address with a table index in its spare
/// bits for `handle-local`. Zero is never a valid handle.
public struct Handle: Equatable, Hashable, Sendable {
    public var bits: UInt64

    @inline(__always)
    public init(bits: UInt64) { self.bits = bits }

    @inline(__always)
    public init(_ object: ObjectRef) { self.bits = UInt64(UInt(bitPattern: object.address)) }

    public static let null = Handle(bits: 0)
}
