import Foundation
import Testing
import RefScale
@testable import RefScaleHarness

/// Where workers run (`--pin`) and where objects live (`--placement`).
@Suite("pinning and placement")
struct PlacementTests {
    /// Two nodes of four CPUs each, numbered as many two-socket machines number them.
    static let twoNodes = NUMATopology(isAvailable: true, nodes: [
        .init(id: 0, cpus: CPUSet([0, 1, 2, 3]), memoryBytes: nil, freeBytes: nil),
        .init(id: 1, cpus: CPUSet([4, 5, 6, 7]), memoryBytes: nil, freeBytes: nil),
    ])

    @Test func cpuListsReadAndPrintInTheKernelsFormat() throws {
        let set = try #require(CPUSet(list: "0-3,8,10-11\n"))
        #expect(set.cpus == [0, 1, 2, 3, 8, 10, 11])
        #expect(set.description == "0-3,8,10-11")
        #expect(CPUSet(list: "3-1") == nil)
        #expect(CPUSet(list: "a") == nil)
    }

    @Test func theAllowedCPUsAreTheOnesThisProcessMayRunOn() {
        #expect(!CPUSet.allowed.isEmpty)
        #expect(CPUSet.allowed.count <= MachineInfo.current.onlineCPUs)
    }

    @Test func compactPutsWorkerIOnTheIthCPU() {
        #expect(Pinning.compact.cpus(workers: 5, topology: Self.twoNodes) == [0, 1, 2, 3, 4])
    }

    @Test func scatterGoesRoundRobinOverNodesThenCPUs() {
        #expect(Pinning.scatter.cpus(workers: 5, topology: Self.twoNodes) == [0, 4, 1, 5, 2])
    }

    @Test func workersBeyondTheCPUsWrapAround() {
        #expect(Pinning.compact.cpus(workers: 10, topology: Self.twoNodes)?.suffix(2) == [0, 1])
        #expect(Pinning.none.cpus(workers: 3, topology: Self.twoNodes) == nil)
    }

    @Test func unknownPolicyNamesAreUsageErrors() {
        #expect(throws: UsageError.self) { try Pinning(name: "spread") }
        #expect(throws: UsageError.self) { try Placement(name: "remote") }
        #expect(throws: UsageError.self) { try Placement(name: "node") }
        #expect(throws: UsageError.self) { try Placement(name: "node+1") }
    }

    @Test func aNodeThatDoesNotExistIsAUsageError() throws {
        #expect(try Placement(name: "node1", topology: Self.twoNodes) == .node(1))
        let error = try #require(throws: UsageError.self) { try Placement(name: "node2", topology: Self.twoNodes) }
        #expect(error.description.contains("no NUMA node 2"))
        #expect(!error.skippable)
        #expect(throws: UsageError.self) { try Placement(name: "node\(NUMATopology.current.nodes.count + 64)") }
    }

    @Test func theMainNodeAlwaysExists() throws {
        #expect(try Placement(name: "node0") == .node(0))
        #expect(NUMATopology.current.node(0) != nil)
    }

    @Test func theNUMANoteIsSaidOnlyWhereLibnumaIsMissingAndAPolicyNeedsIt() {
        let missing = NUMATopology(isAvailable: false, nodes: Self.twoNodes.nodes.prefix(1).map { $0 })
        #expect(Pinning.numaNote(pin: [.scatter], placement: [.local], topology: missing) != nil)
        #expect(Pinning.numaNote(pin: [.none], placement: [.interleave], topology: missing) != nil)
        #expect(Pinning.numaNote(pin: [.compact], placement: [.local], topology: missing) == nil)
        #expect(Pinning.numaNote(pin: [.scatter], placement: [.node(0)], topology: Self.twoNodes) == nil)
    }

    @Test func compactWithTwoThreadsRunsOnTwoDifferentCPUs() throws {
        try #require(CPUSet.allowed.count >= 2, "needs two CPUs")
        let request = RunRequest(
            scheme: try Registry.scheme(named: AtomicScheme.name), workload: try Registry.workload(named: PrivateWorkload.name),
            threads: 2, duration: 0.05, warmup: 0.01, pin: .compact)
        let row = try Runner.run(request)
        let cpus = row["cpus"].text.split(separator: ";").map { Int($0) }
        #expect(cpus == [CPUSet.allowed.cpus[0], CPUSet.allowed.cpus[1]], "cpus: \(row["cpus"].text)")
        #expect(row["cpus_end"].text == row["cpus"].text)
        #expect(row["cpu_moved"].text == "false")
        #expect(row["pin"].text == "compact")
    }

    @Test(arguments: ["local", "node0", "interleave"])
    func runsAreValidWithEveryPlacement(placement: String) throws {
        for workload in [PrivateWorkload.name, "churn"] {
            let request = RunRequest(
                scheme: try Registry.scheme(named: AtomicScheme.name), workload: try Registry.workload(named: workload),
                threads: 2, duration: 0.03, warmup: 0.01, pin: .scatter, placement: try Placement(name: placement))
            let row = try Runner.run(request)
            #expect(row.isValid, "\(workload) with \(placement): \(row["validation_error"].text)")
            #expect(row["placement"].text == placement)
        }
    }

    @Test func pooledMemoryIsUntouchedZeroAndGoesBack() {
        for placement in [Placement.local, .node(0), .interleave] {
            let memory = placement.poolMemory()
            let pool = ObjectPool(count: 100, alignment: 8192, memory: memory)
            #expect(UInt(bitPattern: pool.base) % 8192 == 0, "an alignment above the page is kept")
            #expect(!pool[99].isBorn)
            let object = pool.bear(99, flags: [])
            ObjectPool.free(object)
            #expect(pool.validateLifetimes() == nil)
            pool.deallocate()
        }
    }

    @Test func experimentFilesTakePinAndPlacementLists() throws {
        let data = Data("""
            {"name": "placed", "schemes": ["atomic"], "workloads": [{"name": "private"}], "threads": [2],
             "repetitions": 1, "pin": ["compact", "scatter"], "placement": "node0"}
            """.utf8)
        let experiment = try ExperimentFile.parse(JSONSerialization.jsonObject(with: data))
        let runs = try experiment.requests(onlineCPUs: 2).runs
        #expect(runs.map(\.pin) == [.compact, .scatter])
        #expect(runs.map(\.placement) == [.node(0), .node(0)])
    }

    @Test func experimentFilesNameTheBadPolicyPlace() throws {
        let data = Data("""
            {"name": "placed", "schemes": ["atomic"], "workloads": [{"name": "private"}], "threads": [2],
             "placement": ["local", "node99"]}
            """.utf8)
        let error = try #require(throws: ExperimentFile.PlaceError.self) {
            try ExperimentFile.parse(JSONSerialization.jsonObject(with: data))
        }
        #expect(error.place == "placement[1]")
    }
}

/// `refscale info`: what it reads and the JSON it prints.
@Suite("machine report")
struct MachineReportTests {
    @Test func infoJSONParsesAndHoldsTheMachine() throws {
        let report = MachineReport.current()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any])
        #expect(object["online_cpus"] as? Int == MachineInfo.current.onlineCPUs)
        #expect((object["cores"] as? Int ?? 0) >= 1)
        #expect((object["python_version"] as? String ?? "").hasPrefix("3.11"))
        #expect(object["build_config"] as? String == MachineInfo.current.buildConfiguration)
        let nodes = try #require(object["numa_nodes"] as? [[String: Any]])
        #expect(nodes.count == NUMATopology.current.nodes.count)
        #expect(nodes.first?["cpus"] as? String != nil)
        let caches = try #require(object["caches"] as? [[String: Any]])
        for cache in caches {
            #expect((cache["line_bytes"] as? Int ?? 0) > 0)
            #expect((cache["size_bytes"] as? Int ?? 0) > 0)
        }
    }

    @Test func cacheSizesReadAsBytes() {
        #expect(MachineReport.bytes("32K") == 32 * 1024)
        #expect(MachineReport.bytes("16M") == 16 << 20)
        #expect(MachineReport.bytes("512") == 512)
        #expect(MachineReport.bytes("") == nil)
    }

    @Test func theLinesNameEveryCacheAndNode() {
        let report = MachineReport.current()
        let text = report.lines.joined(separator: "\n")
        #expect(text.contains("python:"))
        #expect(report.lines.filter { $0.hasPrefix("  L") }.count == report.caches.count)
        #expect(report.lines.filter { $0.hasPrefix("  node ") }.count == report.numaNodes.count)
    }
}
