/// The hot loop: performs a run of operations on one scheme. Generic over the scheme and
/// specialised for each one in this module, so every scheme call is inlined and no existential,
/// class reference or Swift reference count appears in it.
///
/// The kinds are tested by a chain of compares, most frequent first, rather than a `switch`:
/// the switch compiled to an indirect jump per operation, which cost about 0.8 ns/op of `noop`.
/// Operations that make objects or open handles are rare in timed passes and sit out of line.
@inline(__always)
func execute<S: CountingScheme>(
    _ operations: UnsafeBufferPointer<Operation>,
    on scheme: inout S,
    registers: UnsafeMutablePointer<Handle>,
    pool: ObjectPool,
    checksum: inout UInt64
) {
    for operation in operations {
        let code = operation.code
        if code == Operation.Code.dupClose.rawValue {
            scheme.close(scheme.dup(registers[operation.source]))
        } else if code == Operation.Code.dup.rawValue {
            registers[operation.register] = scheme.dup(registers[operation.source])
        } else if code == Operation.Code.close.rawValue {
            scheme.close(registers[operation.register])
        } else if code == Operation.Code.read.rawValue {
            checksum &+= scheme.read(registers[operation.register])
        } else {
            executeRare(operation, on: &scheme, registers: registers, pool: pool)
        }
    }
}

@inline(never)
func executeRare<S: CountingScheme>(
    _ operation: Operation, on scheme: inout S, registers: UnsafeMutablePointer<Handle>, pool: ObjectPool
) {
    switch operation.code {
    case Operation.Code.open.rawValue:
        registers[operation.register] = scheme.open(pool[operation.source])
    case Operation.Code.new.rawValue:
        registers[operation.register] = scheme.new(pool.bear(operation.source, flags: operation.flags))
    case Operation.Code.enter.rawValue:
        scheme.enterScope()
    case Operation.Code.exit.rawValue:
        scheme.exitScope()
    default:
        preconditionFailure("unknown operation code \(operation.code)")
    }
}
