import CNuma
import CRefScale
import Foundation
import Testing
import RefScale
@testable import RefScaleHarness

/// Carries a value into and out of a thread; the test orders every access (the thread is joined).
final class UncheckedBox<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// Where workers run (`--pin`) and where objects live (`--placement`).
@Suite("pinning and placement", .tags(.threaded))
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

    /// `Cpus_allowed_list` of a task's status file: the kernel's own account of its affinity mask.
    static func allowedList(statusPath: String) throws -> CPUSet {
        let status = try String(contentsOfFile: statusPath, encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
        return try #require(CPUSet(list: String(line.dropFirst("Cpus_allowed_list:".count)).trimmingCharacters(in: .whitespaces)))
    }

    @Test func theAllowedCPUsAreTheOnesThisProcessMayRunOn() throws {
        #expect(!CPUSet.allowed.isEmpty)
        #expect(CPUSet.allowed.count <= MachineInfo.current.onlineCPUs)
        #expect(CPUSet.allowed == (try Self.allowedList(statusPath: "/proc/self/status")), "sched_getaffinity against the kernel's status file")
    }

    /// A pinned thread's affinity mask, as the kernel reports it, is its one CPU, and it runs there.
    @Test func pinningSetsTheThreadsAffinityMaskToItsCPU() throws {
        let cpu = try #require(CPUSet.allowed.cpus.last)
        let observed = UncheckedBox<(mask: String, ranOn: Int32)>((mask: "", ranOn: -1))
        let thread = WorkerThread(pinnedTo: cpu) {
            let status = (try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") } ?? ""
            observed.value = (String(line.dropFirst("Cpus_allowed_list:".count)).trimmingCharacters(in: .whitespaces), crefscale_cpu_current())
        }
        thread.join()
        #expect(observed.value.mask == String(cpu))
        #expect(observed.value.ranOn == Int32(cpu))
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

    /// The node of each page, as the kernel reports it (`move_pages` with no target nodes):
    /// a node number, or -ENOENT for a page no one has touched.
    static func nodes(ofPages pages: [UnsafeMutableRawPointer]) -> [Int32] {
        var addresses: [UnsafeMutableRawPointer?] = pages
        var status = [Int32](repeating: Int32.min, count: pages.count)
        let result = numa_move_pages(0, UInt(pages.count), &addresses, nil, &status, 0)
        precondition(result == 0, "move_pages failed: \(result), errno \(errno)")
        return status
    }

    /// `node<N>` puts every page on node N, for every node here (on a machine of one node,
    /// node 0); a page is placed only once an object on it is born, never before.
    @Test func nodePlacementPutsTouchedPagesOnThatNodeAndTouchesNothingEarly() throws {
        try #require(NUMATopology.current.isAvailable, "libnuma is available here")
        let page = Int(getpagesize())
        for node in NUMATopology.current.nodes.map(\.id) {
            let pool = ObjectPool(count: 2 * page / 128, alignment: 128, memory: Placement.node(node).poolMemory())
            defer { pool.deallocate() }
            let secondPage = page / ObjectPool.stride(alignment: 128)
            #expect(Self.nodes(ofPages: [pool[0].address, pool[secondPage].address]) == [-ENOENT, -ENOENT], "nothing touched yet")
            _ = pool.bear(0, flags: [])
            #expect(Self.nodes(ofPages: [pool[0].address, pool[secondPage].address]) == [Int32(node), -ENOENT])
            ObjectPool.free(pool[0])
        }
    }

    /// `local` with pinned workers: each worker's first object is on its CPU's node.
    @Test func localPlacementPutsAWorkersObjectsOnItsNode() throws {
        try #require(NUMATopology.current.isAvailable, "libnuma is available here")
        let topology = NUMATopology.current
        let pool = ObjectPool(count: 0, alignment: 128, regionSize: 64, threadSlots: topology.nodes.count, memory: Placement.local.poolMemory())
        defer { pool.deallocate() }
        let cpus = try #require(Pinning.scatter.cpus(workers: topology.nodes.count, topology: topology))
        for (slot, cpu) in cpus.enumerated() {
            let box = UncheckedBox(pool)
            let thread = WorkerThread(pinnedTo: cpu) { _ = box.value.allocate(thread: slot, flags: []) }
            thread.join()
            let expected = try #require(topology.nodes.first { $0.cpus.contains(cpu) }).id
            #expect(Self.nodes(ofPages: [pool[slot * 64].address]) == [Int32(expected)], "worker on CPU \(cpu)")
            ObjectPool.free(pool[slot * 64])
        }
        #expect(pool.validateLifetimes() == nil)
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
    /// The caches read from sysfs agree with what glibc reads from the CPU itself (`sysconf`),
    /// and are there whenever sysfs lists them.
    @Test func theCachesAgreeWithTheCPUsOwnAccount() throws {
        let report = MachineReport.current()
        if FileManager.default.fileExists(atPath: "/sys/devices/system/cpu/cpu0/cache/index0/size") {
            #expect(!report.caches.isEmpty)
        }
        let level1Data = sysconf(Int32(_SC_LEVEL1_DCACHE_SIZE)), level1Line = sysconf(Int32(_SC_LEVEL1_DCACHE_LINESIZE))
        let level2 = sysconf(Int32(_SC_LEVEL2_CACHE_SIZE))
        try #require(level1Data > 0 || level2 > 0, "glibc reports no cache sizes here")
        if level1Data > 0 {
            let cache = try #require(report.caches.first { $0.level == 1 && $0.type == "Data" })
            #expect(cache.sizeBytes == level1Data)
            if level1Line > 0 { #expect(cache.lineBytes == level1Line) }
        }
        if level2 > 0 {
            #expect(report.caches.first { $0.level == 2 }?.sizeBytes == level2)
        }
    }

    /// The JSON against what other sources say of this machine: glibc's count of online CPUs,
    /// `/proc/cpuinfo`'s cores (sysfs is what the report reads), the NUMA nodes sysfs lists, the
    /// CPU's own cache sizes (`sysconf`), the kernel's `uname`, the Python the build links
    /// (pkg-config) and this test bundle's own build configuration.
    @Test func infoJSONHoldsWhatOtherSourcesSayOfTheMachine() throws {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(MachineReport.current().json().utf8)) as? [String: Any])
        #expect(object["online_cpus"] as? Int == sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        var cores = Set<String>(), package = ""
        for line in cpuinfo.split(separator: "\n") {
            let field = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard field.count == 2 else { continue }
            if field[0] == "physical id" { package = field[1] }
            if field[0] == "core id" { cores.insert(package + "/" + field[1]) }
        }
        if !cores.isEmpty { #expect(object["cores"] as? Int == cores.count, "/proc/cpuinfo: \(cores.sorted())") }
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        #expect((object["kernel"] as? String ?? "").contains(release))
        #if DEBUG
        #expect(object["build_config"] as? String == "debug")
        #else
        #expect(object["build_config"] as? String == "release")
        #endif
        let pkgConfig = Process()
        pkgConfig.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        pkgConfig.arguments = ["pkg-config", "--modversion", "python3-embed"]
        let output = Pipe()
        pkgConfig.standardOutput = output
        try pkgConfig.run()
        let linked = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        pkgConfig.waitUntilExit()
        #expect(pkgConfig.terminationStatus == 0 && !linked.isEmpty)
        #expect((object["python_version"] as? String ?? "").hasPrefix(linked + "."), "pkg-config: python3-embed \(linked)")
        let listedNodes = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/devices/system/node"))?
            .filter { $0.hasPrefix("node") && Int($0.dropFirst(4)) != nil }.count ?? 0
        let nodes = try #require(object["numa_nodes"] as? [[String: Any]])
        #expect(nodes.count == max(listedNodes, 1))
        let caches = try #require(object["caches"] as? [[String: Any]])
        let level1Data = sysconf(Int32(_SC_LEVEL1_DCACHE_SIZE))
        if level1Data > 0 {
            let cache = try #require(caches.first { $0["level"] as? Int == 1 && $0["type"] as? String == "Data" })
            #expect(cache["size_bytes"] as? Int == level1Data)
        }
        let level2 = sysconf(Int32(_SC_LEVEL2_CACHE_SIZE))
        if level2 > 0 { #expect(caches.first { $0["level"] as? Int == 2 }?["size_bytes"] as? Int == level2) }
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
