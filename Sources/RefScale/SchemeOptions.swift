/// The options of a run that reach its scheme: the values given for the options schemes declare
/// (each scheme reads its own, `CountingScheme.declaredOptions`), the object alignment every
/// scheme's pool uses, and the debug context's options.
public struct SchemeOptions: Sendable, Equatable {
    public var values = OptionValues()
    /// 16: what CPython's allocator (mimalloc) gives small objects, each next to the last in the
    /// thread's region; 128 puts every object on lines of its own.
    public var objectAlignment = 16
    /// The debug context's options; the schemes and the other contexts ignore them.
    public var debug = DebugOptions()
    /// The trace context's `--trace-timing`: whether each traced call is timed, not only counted.
    public var traceTiming = true

    public init() {}

    public subscript<Value>(option: DeclaredOption<Value>) -> Value {
        get { values[option] }
        set { values[option] = newValue }
    }

    /// What tells two option sets apart for a scheme that reads `declarations` (and the alignment).
    public func key(for declarations: [OptionDeclaration]) -> [OptionValue] {
        [.integer(objectAlignment)] + values.key(for: declarations)
    }
}
