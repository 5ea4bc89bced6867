extension ObjectPool {
    /// Objects born over the whole run (each birth of a recycled object counts): read when no
    /// thread runs, from the birth count every object keeps, so the timed loop pays nothing.
    public func totalBirths() -> Int {
        usedIndices.joined().reduce(0) { $0 + self[$1].timesBorn }
    }
}
