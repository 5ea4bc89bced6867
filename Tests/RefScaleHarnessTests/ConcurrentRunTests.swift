import Testing
import RefScale
import RefScaleHarness

/// Whole runs through `Runner`: real worker threads, then the harness's own checks (shared
/// objects back to their counts, every object freed exactly once, nothing written after free).
/// 8 threads on a 2-core machine is oversubscribed on purpose: preemption in the middle of a
/// scheme's sequence is what exposes races.
@Suite(.tags(.threaded)) struct ConcurrentRunTests {
    @Test(arguments: SchemeSetting.threadSafe, [2, 4, 8])
    func threadSafeSchemeOnSharedHotEndsWithEveryObjectFreedOnce(setting: SchemeSetting, threads: Int) throws {
        let row = try shortRun(setting, workload: SharedHotWorkload.name, threads: threads)
        #expect(row["valid"].text == "true", "\(row["validation_error"].text)")
        #expect(row["validation_error"].text == "")
        #expect(row["frees"].text == row["objects"].text, "each shared object is freed once, by the main thread's drain")
        try expectEveryWorkerWorkedInTheMeasuredInterval(row)
    }

    @Test func nonatomicOnPrivateWithTwoThreadsEndsValid() throws {
        let row = try shortRun(SchemeSetting(name: NonatomicScheme.name), workload: PrivateWorkload.name, threads: 2)
        #expect(row["valid"].text == "true", "\(row["validation_error"].text)")
        #expect(row["frees"].text == "2")
        try expectEveryWorkerWorkedInTheMeasuredInterval(row)
    }

    @Test(arguments: SchemeSetting.all)
    func immortalObjectsOnPrivateAreNeverFreed(setting: SchemeSetting) throws {
        var options = OptionValues()
        options.set("objects", to: .integer(2))
        options[CommonOptions.immortalFraction] = 0.5
        let row = try shortRun(setting, workload: PrivateWorkload.name, threads: 2, workloadOptions: options)
        #expect(row["valid"].text == "true", "\(row["validation_error"].text)")
        #expect(row["frees"].text == "2", "one mortal object per thread")
    }

    @Test(arguments: SchemeSetting.threadSafe)
    func immortalObjectsOnSharedHotAreNeverFreed(setting: SchemeSetting) throws {
        var options = OptionValues()
        options[CommonOptions.immortalFraction] = 0.5
        let row = try shortRun(setting, workload: SharedHotWorkload.name, threads: 2, workloadOptions: options)
        #expect(row["valid"].text == "true", "\(row["validation_error"].text)")
        #expect(row["frees"].text == "2", "two of the four shared objects are mortal")
    }
}
