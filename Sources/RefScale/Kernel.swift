/// The hot loop: performs a run of operations on one scheme. Generic over the scheme and
/// specialised for each one in this module, so every scheme call is inlined and no existential,
/// class reference or Swift reference count appears in it.
@inline(__always)
func execute<S: CountingScheme>(
    _ operations: UnsafeBufferPointer<Operation>,
    on scheme: inout S,
    registers: UnsafeMutablePointer<Handle>,
    pool: ObjectPool,
    checksum: inout UInt64
) {
    for operation in operations {
        let register = operation.register
        switch operation.code {
        case Operation.Code.dup.rawValue:
            registers[register] = scheme.dup(registers[operation.source])
        case Operation.Code.close.rawValue:
            scheme.close(registers[register])
        case Operation.Code.read.rawValue:
            checksum &+= scheme.read(registers[register])
        case Operation.Code.open.rawValue:
            registers[register] = scheme.open(pool[operation.source])
        case Operation.Code.new.rawValue:
            registers[register] = scheme.new(pool.bear(operation.source, immortal: false))
        case Operation.Code.newImmortal.rawValue:
            registers[register] = scheme.new(pool.bear(operation.source, immortal: true))
        default:
            preconditionFailure("unknown operation code \(operation.code)")
        }
    }
}
