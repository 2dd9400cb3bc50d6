// A short run of the differential driver (Fuzz/Sources/differential): random models from seeds
// no other test uses, compiled against the interpreter in every variant and every variant
// against the original in float64; and the shrinker on made-up failures.
import Testing
import TFCDriver
import TFCTestSupport
import TIR
import TIRTransforms

@Suite struct DifferentialTests {
    /// Seeds 5000..<5008: above every range the other generated-model tests draw from. One test
    /// case per seed, so that they run in parallel. Each costs three JIT compiles (about 0.5 s
    /// of CPU each, most of it LLVM's): the suite takes some 12 s of CPU, 7 s on two cores.
    @Test(arguments: UInt64(5000)..<5008)
    func randomModelAgreesInEveryVariant(seed: UInt64) {
        let spec = ModelSpec.random(seed: seed)
        let report = checkDifferential(spec)
        #expect(report.comparisons > 0)
        #expect(report.passed, """
            ModelSpec.random(seed: \(seed)) = \(spec)
            \(report.failures.map(\.description).joined(separator: "\n"))
            \(printModule(generateModel(spec)))
            """)
    }

    /// A fake failure, "width > 5 and layers > 1": the shrinker must reach width 6, two layers,
    /// and every other size and option at its smallest.
    @Test(arguments: [ModelSpec.Kind.gpt(.init()), .vit(.init())])
    func shrinksToTheMinimalFailingSpec(kind: ModelSpec.Kind) throws {
        func fits(_ spec: ModelSpec) -> Bool {
            let sameKind = (spec.gpt != nil) == kind.isGPT
            return sameKind && spec.width >= 12 && spec.layers >= 3 && spec.heads > 1 && spec.mlpWidth > 1 && spec.biases
        }
        let candidates = (UInt64(5000)..<6000).lazy.map { ModelSpec.random(seed: $0) }
        let start = try #require(candidates.first(where: fits))
        var calls = 0
        let failing: (ModelSpec) -> Bool = { calls += 1; return $0.width > 5 && $0.layers > 1 }
        let small = shrink(start, while: failing)

        var expected = ModelSpec(kind: start.kind, width: 6, attentionWidth: 1, heads: 1, mlpWidth: 1, layers: 2,
                                 blockStyle: .sequential, attentionInput: .fused, biases: false, headTransposed: false,
                                 headBias: false, normGain: false, normBias: false, wideGains: false, eps: 1e-5,
                                 gelu: .tanh, offset: 0, weightSeed: start.weightSeed)
        switch start.kind {
        case .gpt:
            expected.kind = .gpt(.init(vocab: 1, maxSeq: 1, positionRows: 1, positions: .learned, tiedHead: true))
        case .vit:
            expected.kind = .vit(.init(channels: 1, patch: 1, gridHeight: 1, gridWidth: 1, classes: 1,
                                       clsAsRow: false, classifier: .classToken))
        }
        #expect(small == expected, "from \(start)\n got \(small)\nwant \(expected)")
        #expect(generatesValidModel(small))
        #expect(calls < 200, "\(calls) predicate calls")
    }

    /// A failure that never goes away shrinks to the same floor, and a spec that does not fail
    /// (nor anything below it) comes back unchanged.
    @Test func shrinkEdges() {
        let spec = ModelSpec.random(seed: 5001)
        let floor = shrink(spec) { _ in true }
        #expect(floor.layers == 1 && floor.width == 1 && floor.heads == 1 && floor.mlpWidth == 1 && !floor.biases)
        #expect(shrink(spec) { _ in false } == spec)
        // Only specs that generate a valid model are offered to the predicate.
        _ = shrink(spec) { candidate in
            #expect(generatesValidModel(candidate), "\(candidate)")
            return candidate.width > 3
        }
    }

    /// The checks really fail when they should: with an impossible float64 tolerance every
    /// rewritten variant fails, and shrinking on that failure ends at a one-layer model.
    /// (Float64 checks only: a JIT compile per shrink step would cost seconds.)
    @Test func failingCheckIsReportedAndShrunk() throws {
        var options = DifferentialOptions()
        options.variants = [.preRMS]
        options.compiled = false
        options.float64Tolerance = -1
        let spec = ModelSpec(kind: .gpt(.init(vocab: 7, maxSeq: 3)), width: 4, heads: 2, layers: 2)
        let report = checkDifferential(spec, options: options)
        let failure = try #require(report.failures.first)
        #expect(failure.variant == .preRMS && failure.check == .float64, "\(report.failures)")
        let small = shrink(spec) { candidate in
            checkDifferential(candidate, options: options).failures.contains { $0.sameKind(as: failure) }
        }
        #expect(small.layers == 1 && small.width == 1 && small.gpt?.vocab == 1, "\(small)")
    }
}

private extension ModelSpec.Kind {
    var isGPT: Bool {
        if case .gpt = self { return true }
        return false
    }
}
