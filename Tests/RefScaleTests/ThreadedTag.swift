import Testing

extension Tag {
    /// A suite that starts threads: `.ci/run` runs every suite with this tag under
    /// ThreadSanitizer, and `ThreadedSuitesTests` fails when a suite that starts threads lacks it.
    @Tag static var threaded: Self
}
