/// A scheme whose handle is the object's address, as CPython's `PyObject*` is (HPy's CPython
/// ABI): reading through a handle reads the object, the handle names its object directly, and a
/// handle is itself one counted reference, so sending it moves that reference and receiving one
/// makes it a handle again with no counting. Non-local references are counted as handles are.
public protocol AddressHandleScheme: CountingScheme {}

extension AddressHandleScheme {
    @inline(__always)
    public func read(_ handle: Handle) -> UInt64 { ObjectRef(handle).payload }

    @inline(__always)
    public func object(of handle: Handle) -> ObjectRef { ObjectRef(handle) }

    public mutating func retain(_ object: ObjectRef) { _ = dup(Handle(object)) }
    public mutating func release(_ object: ObjectRef) { close(Handle(object)) }
    public mutating func transfer(_ handle: Handle) -> ObjectRef { ObjectRef(handle) }
    public mutating func adopt(_ object: ObjectRef) -> Handle { Handle(object) }
}
