/// Finds, before a run, the operations of each worker's pass that drop the last reference the
/// stream holds to an object the stream made, and marks them for the free-delay ledger
/// (`ObjectPool+Retention.swift`): such a `close` becomes `closeLast`; such a `store`, `clear`
/// or `receiveAll` gets `Operation.dropsLastFlag`. Scope entries and exits get their position in
/// the pass (in handle operations) as their source, so the thread's position moves there.
///
/// What counts as a reference is the stream's, the same for every scheme: a register holding a
/// handle, a field holding the object, an object in flight in a channel. Each object made in
/// the pass (`create`, `createNamed`, `new`) is followed: `dup` and `load` add a reference, `close` ends one,
/// `store` adds one and ends the slot's previous one, `clear` ends one, `send` moves the only
/// one into the channel. Objects the pass did not make (set-up objects, `open`) are not
/// followed, and neither are objects stored into a global (any thread may load them) or sent
/// while the sender keeps another reference: then the receivers of that channel follow nothing
/// from it. A received object carries one reference. The pass is followed twice and the
/// second time is marked, so references a pass leaves in fields for the next (`call`'s stores)
/// are known. Anything the walk cannot account for (a count below zero) stops following that
/// object rather than guess.
///
/// Stamping at a `closeLast` asks the context for the handle's object, one more context call.
/// The debug context counts and checks every call (its reports name operations by their call
/// index), so under it nothing is marked but positions (`stamping: false`), and the delay
/// columns of debug rows are 0.
public enum LastDrops {
    private final class Reference {
        var count = 1
        var followed = true
        init(followed: Bool) { self.followed = followed }
    }

    /// The passes, one per worker, with their last drops marked.
    public static func mark(_ passes: [[Operation]], stamping: Bool = true) -> [[Operation]] {
        // Channels where some send does not move an object's only reference.
        var unfollowedChannels = Set<Int>()
        for pass in passes { _ = walk(pass, unfollowedChannels: &unfollowedChannels, marking: false, stamping: stamping) }
        return passes.map { pass in
            var channels = unfollowedChannels
            return walk(pass, unfollowedChannels: &channels, marking: true, stamping: stamping)
        }
    }

    private static func walk(_ pass: [Operation], unfollowedChannels: inout Set<Int>, marking: Bool, stamping: Bool) -> [Operation] {
        var registers: [Int: Reference] = [:]
        var fields: [Int: Reference] = [:]
        var marked = pass
        let unfollowed = Reference(followed: false)

        func end(_ reference: Reference?) -> Bool {
            guard let reference, reference.followed else { return false }
            reference.count -= 1
            if reference.count < 0 { reference.followed = false }
            return reference.count == 0
        }

        for round in 0..<2 {
            var position = 0
            for (index, operation) in pass.enumerated() {
                let register = operation.register
                let source = operation.source
                let isGlobal = source & Slot.globalBit != 0
                var replacement: Operation?
                switch operation.code {
                case Operation.Code.create.rawValue, Operation.Code.createNamed.rawValue, Operation.Code.new.rawValue:
                    registers[register] = Reference(followed: true)
                case Operation.Code.open.rawValue:
                    registers[register] = unfollowed
                case Operation.Code.dup.rawValue:
                    let reference = registers[source] ?? unfollowed
                    if reference.followed { reference.count += 1 }
                    registers[register] = reference
                case Operation.Code.close.rawValue:
                    if end(registers[register]) { replacement = .closeLast(register, at: position) }
                    registers[register] = nil
                case Operation.Code.load.rawValue:
                    let reference = isGlobal ? unfollowed : (fields[source] ?? unfollowed)
                    if reference.followed { reference.count += 1 }
                    registers[register] = reference
                case Operation.Code.store.rawValue:
                    let reference = registers[register] ?? unfollowed
                    if isGlobal {
                        reference.followed = false
                    } else {
                        if reference.followed { reference.count += 1 }
                        let previous = fields[source]
                        fields[source] = reference
                        if end(previous) { replacement = flagged(operation) }
                    }
                case Operation.Code.clear.rawValue:
                    if !isGlobal {
                        if end(fields[source]) { replacement = flagged(operation) }
                        fields[source] = nil
                    }
                case Operation.Code.send.rawValue:
                    let reference = registers[register] ?? unfollowed
                    if !(reference.followed && reference.count == 1) {
                        unfollowedChannels.insert(source)
                        reference.followed = false
                    }
                    registers[register] = nil
                case Operation.Code.receive.rawValue:
                    registers[register] = unfollowedChannels.contains(source) ? unfollowed : Reference(followed: true)
                case Operation.Code.receiveAll.rawValue:
                    if !unfollowedChannels.contains(source) { replacement = flagged(operation) }
                case Operation.Code.storeUnconverted.rawValue, Operation.Code.sendUnconverted.rawValue:
                    registers[register]?.followed = false
                case Operation.Code.enter.rawValue:
                    replacement = .positioned(.enter, at: position)
                case Operation.Code.exit.rawValue:
                    replacement = .positioned(.exit, at: position)
                default:
                    break
                }
                let isPosition = replacement?.code == Operation.Code.enter.rawValue || replacement?.code == Operation.Code.exit.rawValue
                if marking && round == 1, let replacement, stamping || isPosition {
                    marked[index] = replacement
                }
                position += operation.handleOperations
            }
        }
        return marked
    }

    private static func flagged(_ operation: Operation) -> Operation {
        var operation = operation
        operation.bits |= UInt64(Operation.dropsLastFlag) << 8
        return operation
    }
}

extension Operation {
    /// A scope entry or exit that carries its position in the pass.
    static func positioned(_ code: Code, at position: Int) -> Operation { Operation(code, register: 0, source: position) }
}
