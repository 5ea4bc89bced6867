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
    /// The references the walk follows, by number: a register or a field holds a number, and
    /// every holder of one reference shares its count. Number 0 is every reference not followed;
    /// `none` is an empty register or field.
    private struct References {
        static let none: Int32 = -1
        static let unfollowed: Int32 = 0
        private var counts: [Int] = [1]
        private var followed: [Bool] = [false]

        mutating func new(followed isFollowed: Bool = true) -> Int32 {
            counts.append(1)
            followed.append(isFollowed)
            return Int32(counts.count - 1)
        }

        func isFollowed(_ reference: Int32) -> Bool { reference > 0 && followed[Int(reference)] }
        func count(_ reference: Int32) -> Int { counts[Int(reference)] }
        mutating func unfollow(_ reference: Int32) { if reference >= 0 { followed[Int(reference)] = false } }

        /// A holder takes another reference.
        mutating func add(_ reference: Int32) { if isFollowed(reference) { counts[Int(reference)] += 1 } }

        /// A holder gives its reference up; whether that was the last one.
        mutating func end(_ reference: Int32) -> Bool {
            guard isFollowed(reference) else { return false }
            counts[Int(reference)] -= 1
            if counts[Int(reference)] < 0 { followed[Int(reference)] = false }
            return counts[Int(reference)] == 0
        }
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
        var registerCount = 0
        var fieldCount = 0
        for operation in pass {
            registerCount = max(registerCount, operation.register + 1)
            switch operation.code {
            case Operation.Code.dup.rawValue:
                registerCount = max(registerCount, operation.source + 1)
            case Operation.Code.load.rawValue, Operation.Code.store.rawValue, Operation.Code.clear.rawValue:
                if operation.source & Slot.globalBit == 0 { fieldCount = max(fieldCount, operation.source + 1) }
            default:
                break
            }
        }
        var references = References()
        var registers = [Int32](repeating: References.none, count: registerCount)
        var fields = [Int32](repeating: References.none, count: fieldCount)
        var marked = pass

        /// What a register or field holds, an empty one read as a reference not followed.
        func held(_ reference: Int32) -> Int32 { reference == References.none ? References.unfollowed : reference }

        for round in 0..<2 {
            var position = 0
            for (index, operation) in pass.enumerated() {
                let register = operation.register
                let source = operation.source
                let isGlobal = source & Slot.globalBit != 0
                var replacement: Operation?
                switch operation.code {
                case Operation.Code.create.rawValue, Operation.Code.createNamed.rawValue, Operation.Code.new.rawValue:
                    registers[register] = references.new()
                case Operation.Code.open.rawValue:
                    registers[register] = References.unfollowed
                case Operation.Code.dup.rawValue:
                    let reference = held(registers[source])
                    references.add(reference)
                    registers[register] = reference
                case Operation.Code.close.rawValue:
                    if references.end(registers[register]) { replacement = .closeLast(register, at: position) }
                    registers[register] = References.none
                case Operation.Code.load.rawValue:
                    let reference = isGlobal ? References.unfollowed : held(fields[source])
                    references.add(reference)
                    registers[register] = reference
                case Operation.Code.store.rawValue:
                    let reference = held(registers[register])
                    if isGlobal {
                        references.unfollow(reference)
                    } else {
                        references.add(reference)
                        let previous = fields[source]
                        fields[source] = reference
                        if references.end(previous) { replacement = flagged(operation) }
                    }
                case Operation.Code.clear.rawValue:
                    if !isGlobal {
                        if references.end(fields[source]) { replacement = flagged(operation) }
                        fields[source] = References.none
                    }
                case Operation.Code.send.rawValue:
                    let reference = held(registers[register])
                    if !(references.isFollowed(reference) && references.count(reference) == 1) {
                        unfollowedChannels.insert(source)
                        references.unfollow(reference)
                    }
                    registers[register] = References.none
                case Operation.Code.receive.rawValue:
                    registers[register] = unfollowedChannels.contains(source) ? References.unfollowed : references.new()
                case Operation.Code.receiveAll.rawValue:
                    if !unfollowedChannels.contains(source) { replacement = flagged(operation) }
                case Operation.Code.storeUnconverted.rawValue, Operation.Code.sendUnconverted.rawValue:
                    references.unfollow(registers[register])
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
