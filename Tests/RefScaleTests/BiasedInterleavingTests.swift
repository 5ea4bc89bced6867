import Foundation
import Testing
@testable import RefScale

/// Every interleaving of biased counting's steps (`BiasedCounting`, the code `biased` runs) for
/// two threads on one object: thread 1 owns it, thread 2 holds references the owner gave it.
/// Each case must end with no lost count, no double free and no access after free, in every
/// schedule. Every case runs production's own steps, merge order included: there is no switch
/// the checker sets apart from the production file. The positive control runs the explicit
/// merge's order before gh-119999, written out below, through the same checker, which must
/// find the write after free.
@Suite struct BiasedInterleavingTests {
    typealias Step = BiasedInterleavingChecker.Step

    static func dup(_ thread: UInt) -> Step {
        { (memory: inout ScheduledBiasedMemory) throws(ScheduledBiasedMemory.Stop) in
            var counters = SchemeCounters()
            try BiasedCounting.increment(0, thread: thread, memory: &memory, counters: &counters)
        }
    }

    static func close(_ thread: UInt) -> Step {
        { (memory: inout ScheduledBiasedMemory) throws(ScheduledBiasedMemory.Stop) in
            var counters = SchemeCounters()
            try BiasedCounting.decrement(0, thread: thread, memory: &memory, counters: &counters)
        }
    }

    /// The eval-breaker check, which merges the queue when asked to.
    static func check(_ thread: UInt) -> Step {
        { (memory: inout ScheduledBiasedMemory) throws(ScheduledBiasedMemory.Stop) in
            var counters = SchemeCounters()
            try BiasedCounting.handlePending(thread: thread, memory: &memory, counters: &counters)
        }
    }

    static func exit(_ thread: UInt) -> Step {
        { (memory: inout ScheduledBiasedMemory) throws(ScheduledBiasedMemory.Stop) in
            var counters = SchemeCounters()
            try BiasedCounting.removeThread(thread, memory: &memory, counters: &counters)
        }
    }

    /// The race of gh-119999: thread 2 drops two references the owner gave it, so the first
    /// drop queues the object; the owner drops its own and merges its queue while thread 2's
    /// second drop may land on either side of the merge's CAS.
    static let explicitMergeAgainstTheLastDrop = BiasedInterleavingChecker.Case(
        name: "explicit merge against the last drop",
        initial: ModelMemory(owner: 1, local: 3, shared: 0),
        operations: [[close(1), check(1), exit(1)], [close(2), close(2)]],
        referencesLeft: 0)

    static let cases: [BiasedInterleavingChecker.Case] = [
        explicitMergeAgainstTheLastDrop,
        .init(
            name: "owner's decrement to zero against the other's shared and queued drops",
            initial: ModelMemory(owner: 1, local: 2, shared: BiasedCounting.sharedOne),
            operations: [[close(1), exit(1)], [close(2), close(2)]],
            referencesLeft: 0),
        .init(
            name: "increments and decrements of both around the owner's last close",
            initial: ModelMemory(owner: 1, local: 2, shared: 0),
            operations: [[dup(1), close(1), close(1), exit(1)], [dup(2), close(2), close(2)]],
            referencesLeft: 0),
        .init(
            name: "a queue for an owner that exits meanwhile",
            initial: ModelMemory(owner: 1, local: 3, shared: 0),
            operations: [[close(1), exit(1)], [close(2), dup(2), close(2), close(2)]],
            referencesLeft: 0),
        .init(
            name: "the owner keeps a reference while the other's drops queue and merge",
            initial: ModelMemory(owner: 1, local: 3, shared: 0),
            operations: [[check(1), close(1), check(1), exit(1)], [close(2), dup(2), close(2)]],
            referencesLeft: 1),
    ]

    /// Each case's schedules and states as the checker counts them over production's steps as
    /// they stand (the figures theCasesSchedulesStatesAndTimeArePrinted prints). They follow from
    /// every memory access the steps make: a step that gains, loses or reorders an access changes
    /// them, so such a change to `BiasedCounting` must come with its new figures.
    static let explored: [(schedules: Int, states: Int)] = [
        (53_532_256, 815), (27_370, 203), (18_093_985, 510), (17_762_598_867, 1173), (2_108_847_995, 1438),
    ]

    @Test(arguments: cases.indices)
    func everyScheduleKeepsTheCountAndFreesOnce(_ index: Int) {
        let outcome = BiasedInterleavingChecker(testCase: Self.cases[index]).run()
        #expect(outcome.failure == nil, "\(outcome.failure ?? "")")
        #expect(outcome.schedules == Self.explored[index].schedules && outcome.states == Self.explored[index].states,
                "\(Self.cases[index].name): \(outcome.schedules) schedules, \(outcome.states) states")
    }

    /// Production's explicit merge (`BiasedCounting.explicitMerge`, reached through
    /// `handlePending`) against the last drop of the other thread: if the production file
    /// published MERGED before clearing `ob_ref_local` and `ob_tid`, this fails.
    @Test func productionsExplicitMergeSurvivesTheLastDropInEverySchedule() {
        let outcome = BiasedInterleavingChecker(testCase: Self.explicitMergeAgainstTheLastDrop).run()
        #expect(outcome.failure == nil, "\(outcome.failure ?? "")")
        #expect(outcome.schedules == Self.explored[0].schedules, "\(outcome.schedules) schedules")
    }

    /// `_Py_ExplicitMergeRefcount` as it was before gh-119999: the CAS publishing MERGED, then
    /// the writes of `ob_ref_local` and `ob_tid`. Only the positive control runs it.
    static func explicitMergeBeforeGH119999(
        _ object: Int, memory: inout ScheduledBiasedMemory, counters: inout SchemeCounters
    ) throws(ScheduledBiasedMemory.Stop) -> Int {
        var shared = try memory.sharedCount(object)
        var count: Int
        while true {
            let local = Int(try memory.localCount(object))
            count = (shared >> BiasedCounting.flagBits) &+ local &- 1
            let (exchanged, current) = try memory.compareExchangeShared(
                object, expected: shared, desired: count << BiasedCounting.flagBits | BiasedCounting.MERGED)
            if exchanged { break }
            shared = current
        }
        try memory.setLocalCount(object, 0)
        try memory.setOwnerThread(object, 0)
        return count
    }

    /// The eval-breaker check and the merge of `_Py_brc_merge_refcounts`, access for access as
    /// `BiasedCounting.handlePending` makes them, with the old explicit merge.
    static func checkMergingBeforeGH119999(_ thread: UInt) -> Step {
        { (memory: inout ScheduledBiasedMemory) throws(ScheduledBiasedMemory.Stop) in
            var counters = SchemeCounters()
            guard try memory.mergeRequested(of: thread) else { return }
            try memory.clearMergeRequest(of: thread)
            try memory.lockBucket(of: thread, counters: &counters)
            _ = try memory.takeQueue(of: thread)
            try memory.unlockBucket(of: thread)
            while let object = try memory.popTaken(of: thread) {
                if try explicitMergeBeforeGH119999(object, memory: &memory, counters: &counters) == 0 {
                    try memory.free(object, counters: &counters)
                }
            }
        }
    }

    /// The positive control: the order before gh-119999 lets thread 2 free the object between
    /// the CAS and the owner's writes, and the checker must find the write after the free.
    @Test func theExplicitMergeOrderBeforeGH119999IsCaught() {
        var testCase = Self.explicitMergeAgainstTheLastDrop
        testCase.operations[0] = [Self.close(1), Self.checkMergingBeforeGH119999(1), Self.exit(1)]
        let outcome = BiasedInterleavingChecker(testCase: testCase).run()
        print("interleavings: positive control: \(outcome.failure ?? "nothing found")")
        #expect(outcome.failure?.contains("after the object was freed") == true, "\(outcome.failure ?? "no failure found")")
    }

    /// How many schedules each case has and how long exploring them takes (the figures the
    /// README quotes come from this test's output; the time is printed, never asserted).
    @Test func theCasesSchedulesStatesAndTimeArePrinted() {
        let start = Date()
        var schedules = 0, states = 0
        for testCase in Self.cases {
            let outcome = BiasedInterleavingChecker(testCase: testCase).run()
            schedules += outcome.schedules
            states += outcome.states
            print("interleavings: \(testCase.name): \(outcome.schedules) schedules, \(outcome.states) states")
        }
        let seconds = Date().timeIntervalSince(start)
        print("interleavings: \(schedules) schedules through \(states) states in \(String(format: "%.2f", seconds)) s")
        #expect(schedules > 1000)
    }

    /// The checker's counts against figures worked out by hand: one operation of three accesses
    /// and one of two, neither ever blocked, interleave in C(5, 2) = 10 orders, through the
    /// 4 × 3 = 12 states of how far each thread has gone.
    @Test func twoUnblockedOperationsOfThreeAndTwoAccessesHaveTenSchedulesThroughTwelveStates() {
        func reads(_ count: Int) -> Step {
            { (memory: inout ScheduledBiasedMemory) throws(ScheduledBiasedMemory.Stop) in
                for _ in 0..<count { _ = try memory.sharedCount(0) }
            }
        }
        let testCase = BiasedInterleavingChecker.Case(
            name: "three reads against two", initial: ModelMemory(owner: 1, local: 1, shared: 0),
            operations: [[reads(3)], [reads(2)]], referencesLeft: 1)
        let outcome = BiasedInterleavingChecker(testCase: testCase).run()
        #expect(outcome.failure == nil, "\(outcome.failure ?? "")")
        #expect(outcome.schedules == 10 && outcome.states == 12, "\(outcome.schedules) schedules, \(outcome.states) states")
    }
}
