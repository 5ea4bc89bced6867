/// What a trace holds, for `refscale trace info`: events by kind and site, per thread; the
/// objects several threads count; the highest count each object reached; the operations on
/// objects CPython 3.12+ makes immortal.
///
/// Counts are replayed in the program's order (`Trace.forEachInProgramOrder`) from each
/// object's `firstCount`: a birth sets 1, an increment adds 1, a decrement takes 1. An
/// "operation" is an increment or a decrement.
public struct TraceSummary: Sendable {
    /// Events by kind (index: `TraceEvent.Kind.rawValue`) and site (`TraceEvent.Site.rawValue`).
    public var events: [[Int]]
    public var eventsPerThread: [Int]
    public var objectCount: Int
    public var typeCount: Int
    public var operations: Int
    public var operationsOnImmortalIn312: Int
    public var objectsCountedByMoreThanOneThread: Int
    public var operationsOnObjectsOfMoreThanOneThread: Int
    /// The objects most operated on by more than one thread, most first.
    public var mostShared: [SharedObject]
    /// Objects 3.12+ still counts (not immortal there), by the highest count they reached, in
    /// `maxCountBuckets`. Immortal objects are left out: no count field of theirs changes, and
    /// 3.11 starts its static ones at 999999999 (`_PyObject_IMMORTAL_INIT`).
    public var objectsByMaxCount: [Int]
    /// Operations on those objects, by the highest count their object reached.
    public var operationsByMaxCount: [Int]
    public var mortalObjects: Int { objectsByMaxCount.reduce(0, +) }
    public var operationsOnMortalObjects: Int { operationsByMaxCount.reduce(0, +) }

    public struct SharedObject: Sendable {
        public var object: Int
        public var typeName: String
        public var operationsPerThread: [Int]
        public var maxCount: Int
        public var immortalIn312: Bool
    }

    /// Upper bounds (inclusive) of the highest-count buckets; the last bucket is everything
    /// above 65535, the objects a 16-bit count cannot hold. 255 is the most an 8-bit count holds.
    public static let maxCountBuckets = [1, 3, 15, 255, 65535]
    public static let mostSharedLimit = 20

    public init(_ trace: Trace) {
        let objectCount = trace.objects.count
        var events = [[Int]](repeating: [0, 0], count: TraceEvent.Kind.allCases.count)
        var count = trace.objects.map(\.firstCount)
        var maxCount = count
        var operationsOf = [Int](repeating: 0, count: objectCount)
        let noThread = -1, severalThreads = -2
        var threadOf = [Int](repeating: noThread, count: objectCount)
        trace.forEachInProgramOrder { thread, event in
            let object = Int(event.object)
            events[Int(event.kind.rawValue)][Int(event.site.rawValue)] += 1
            switch event.kind {
            case .birth: count[object] = 1
            case .incref: count[object] += 1
            case .decref: count[object] -= 1
            case .death: return
            }
            if count[object] > maxCount[object] { maxCount[object] = count[object] }
            guard event.kind != .birth else { return }
            operationsOf[object] += 1
            if threadOf[object] == noThread { threadOf[object] = thread }
            else if threadOf[object] != thread { threadOf[object] = severalThreads }
        }
        self.events = events
        eventsPerThread = trace.threads.map(\.events.count)
        self.objectCount = objectCount
        typeCount = trace.types.count
        operations = operationsOf.reduce(0, +)

        var immortalOperations = 0, sharedObjects = 0, sharedOperations = 0
        var objectsByMaxCount = [Int](repeating: 0, count: Self.maxCountBuckets.count + 1)
        var operationsByMaxCount = objectsByMaxCount
        var shared: [Int] = []
        for object in 0 ..< objectCount {
            if trace.objects[object].immortalIn312 { immortalOperations += operationsOf[object] }
            if threadOf[object] == severalThreads {
                sharedObjects += 1
                sharedOperations += operationsOf[object]
                shared.append(object)
            }
            guard !trace.objects[object].immortalIn312 else { continue }
            let bucket = Self.maxCountBuckets.firstIndex { maxCount[object] <= $0 } ?? Self.maxCountBuckets.count
            objectsByMaxCount[bucket] += 1
            operationsByMaxCount[bucket] += operationsOf[object]
        }
        operationsOnImmortalIn312 = immortalOperations
        objectsCountedByMoreThanOneThread = sharedObjects
        operationsOnObjectsOfMoreThanOneThread = sharedOperations
        self.objectsByMaxCount = objectsByMaxCount
        self.operationsByMaxCount = operationsByMaxCount

        let top = shared.sorted { (operationsOf[$0], $1) > (operationsOf[$1], $0) }.prefix(Self.mostSharedLimit)
        var perThread = Dictionary(uniqueKeysWithValues: top.map { ($0, [Int](repeating: 0, count: trace.threads.count)) })
        for (threadIndex, thread) in trace.threads.enumerated() {
            for event in thread.events where event.kind == .incref || event.kind == .decref {
                perThread[Int(event.object)]?[threadIndex] += 1
            }
        }
        mostShared = top.map { object in
            SharedObject(object: object, typeName: trace.types[trace.objects[object].typeIndex],
                         operationsPerThread: perThread[object]!, maxCount: maxCount[object],
                         immortalIn312: trace.objects[object].immortalIn312)
        }
    }

    public func eventCount(_ kind: TraceEvent.Kind, _ site: TraceEvent.Site) -> Int {
        events[Int(kind.rawValue)][Int(site.rawValue)]
    }
}
