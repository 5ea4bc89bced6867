import Synchronization

/// The run's mailboxes, which only `stress` streams use: handle words one thread publishes for
/// another to use, and copies of contexts one thread publishes for another to call. Both are
/// published in a thread's set-up, before the start barrier, and read after it.
struct Mailboxes {
    let handles: UnsafeMutablePointer<Atomic<UInt64>>
    let contexts: UnsafeMutableRawPointer
    let published: UnsafeMutablePointer<Atomic<Int>>
    let contextStride: Int
    let count: Int

    /// Mailboxes for contexts of type `S`.
    init<S>(count: Int, contextType: S.Type) {
        self.count = count
        contextStride = max(1, MemoryLayout<S>.stride)
        let words = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 16, alignment: 64)
        words.initializeMemory(as: UInt8.self, repeating: 0, count: max(1, count) * 16)
        handles = words.assumingMemoryBound(to: Atomic<UInt64>.self)
        published = (words + max(1, count) * 8).assumingMemoryBound(to: Atomic<Int>.self)
        contexts = .allocate(byteCount: max(1, count) * contextStride, alignment: max(16, MemoryLayout<S>.alignment))
    }

    /// Ends the published contexts (of type `S`, the type the mailboxes were made for) and frees everything.
    func deallocate<S>(contextType: S.Type) {
        for box in 0..<count where published[box].load(ordering: .acquiring) != 0 {
            (contexts + box * contextStride).assumingMemoryBound(to: S.self).deinitialize(count: 1)
        }
        contexts.deallocate()
        UnsafeMutableRawPointer(handles).deallocate()
    }

    func publish<S>(_ context: S, in box: Int) {
        precondition(box < count && published[box].load(ordering: .relaxed) == 0, "mailbox \(box) used twice or out of range")
        (contexts + box * contextStride).assumingMemoryBound(to: S.self).initialize(to: context)
        published[box].store(1, ordering: .releasing)
    }

    func context<S>(_ box: Int, as _: S.Type) -> S {
        precondition(box < count && published[box].load(ordering: .acquiring) != 0, "mailbox \(box) holds no context")
        return (contexts + box * contextStride).assumingMemoryBound(to: S.self).pointee
    }
}
