import Testing
@testable import RefScale
@testable import RefScaleHarness

/// The channel ring: full and empty are seen through each side's cached copy of the other's
/// index, and a producer and a consumer on two threads pass every item once, in order.
@Suite(.tags(.threaded)) struct ChannelRingTests {
    /// An object reference that is only carried, never dereferenced.
    static func item(_ number: Int) -> ObjectRef { ObjectRef(address: UnsafeMutableRawPointer(bitPattern: number << 6)!) }
    static func number(_ object: ObjectRef) -> Int { Int(bitPattern: object.address) >> 6 }

    @Test func aRingHoldsItsCapacityThenRefusesAndFreesASlotPerPop() {
        let channels = Channels(count: 1, capacity: 4)
        defer { channels.deallocate() }
        let ring = channels.ring(0)
        #expect(ring.tryPop() == nil)
        for number in 1...4 { #expect(ring.tryPush(Self.item(number))) }
        #expect(!ring.tryPush(Self.item(5)))
        #expect(ring.tryPop().map(Self.number) == 1)
        #expect(ring.tryPush(Self.item(5)))
        #expect(!ring.tryPush(Self.item(6)))
        #expect((0..<4).compactMap { _ in ring.tryPop().map(Self.number) } == [2, 3, 4, 5])
        #expect(ring.tryPop() == nil)
    }

    @Test func twoThreadsPassEveryItemOnceInOrder() {
        let channels = Channels(count: 1, capacity: 8)
        defer { channels.deallocate() }
        let items = 200_000
        let producer = WorkerThread {
            let ring = channels.ring(0)
            for number in 1...items {
                while !ring.tryPush(Self.item(number)) {}
            }
        }
        var received: [Int] = []
        received.reserveCapacity(items)
        let ring = channels.ring(0)
        while received.count < items {
            if let object = ring.tryPop() { received.append(Self.number(object)) }
        }
        producer.join()
        #expect(received == Array(1...items))
        #expect(ring.tryPop() == nil)
    }
}
