// The random Pre-LN model generator: its models verify and round-trip, every option occurs, and the JIT runs them like the interpreter.
import Testing
import TFCDriver
import TFCTestSupport
import TIR
import TIRCodegen
import TIRFormats
import TIRInterpreter

@Suite struct ModelGeneratorTests {
    /// The specs of seeds 0..<300: the population the structural tests look at.
    private static let specs = (0..<300).map { ModelSpec.random(seed: UInt64($0)) }

    @Test func randomModelsVerifyAndRoundTrip() {
        for (seed, spec) in Self.specs.enumerated() {
            let module = generateModel(spec)
            let text = printModule(module)
            let problems = verifyModule(module, file: "generated.tir")
            #expect(problems.isEmpty, "\(reproduction(seed: seed, spec, text))\n\(problems.map(\.description).joined(separator: "\n"))")
            do {
                let reparsed = try parseAndVerifyModule(text, file: "generated.tir")
                #expect(reparsed == module, "\(reproduction(seed: seed, spec, text))\nreparse differs")
                #expect(printModule(reparsed) == text)
            } catch {
                Issue.record("\(reproduction(seed: seed, spec, text))\n\(error.renderedDiagnostics(source: text))")
            }
        }
    }

    @Test func everyOptionOccurs() {
        let specs = Self.specs
        let options: [(String, (ModelSpec) -> Bool)] = [
            ("a GPT", { $0.gpt != nil }),
            ("a ViT", { $0.vit != nil }),
            ("sequential blocks", { $0.blockStyle == .sequential }),
            ("parallel blocks", { $0.blockStyle == .parallel }),
            ("fused qkv", { $0.attentionInput == .fused }),
            ("separate q, k, v", { $0.attentionInput == .separate }),
            ("rope on q and k", { $0.attentionInput == .rotary && $0.attentionWidth / $0.heads >= 2 }),
            ("a tied head", { $0.gpt?.tiedHead == true }),
            ("an untied GPT head", { $0.gpt?.tiedHead == false }),
            ("an untied head stored [in, out]", { !$0.headTransposed && $0.gpt?.tiedHead != true }),
            ("an untied head stored [out, in]", { $0.headTransposed && $0.gpt?.tiedHead != true }),
            ("a head bias", { $0.headBias }),
            ("no head bias", { !$0.headBias }),
            ("biases", { $0.biases }),
            ("no biases", { !$0.biases }),
            ("norm gains", { $0.normGain }),
            ("no norm gains", { !$0.normGain }),
            ("norm biases", { $0.normBias }),
            ("no norm biases", { !$0.normBias }),
            ("a norm bias without a gain", { $0.normBias && !$0.normGain }),
            ("wide gains", { $0.normGain && $0.wideGains }),
            ("gains near 1", { $0.normGain && !$0.wideGains }),
            ("tanh GELU", { $0.gelu == .tanh }),
            ("erf GELU", { $0.gelu == .erf }),
            ("d = 1", { $0.width == 1 }),
            ("a prime d above 3", { [5, 7, 11, 13, 17, 31].contains($0.width) }),
            ("an attention width other than d", { $0.attentionWidth != $0.width }),
            ("one head per column", { $0.heads == $0.attentionWidth && $0.heads > 1 }),
            ("several heads", { $0.heads > 1 }),
            ("a residual offset", { $0.offset != 0 }),
            ("no residual offset", { $0.offset == 0 }),
            ("learned positions", { $0.gpt?.positions == .learned }),
            ("constant positions", { $0.gpt?.positions == .constant }),
            ("a position table longer than the sequence", { ($0.gpt).map { $0.positionRows > $0.maxSeq } ?? false }),
            ("a sequence of at most 1", { $0.gpt?.maxSeq == 1 }),
            ("a vocabulary of 1", { $0.gpt?.vocab == 1 }),
            ("a non-square image", { ($0.vit).map { $0.gridHeight != $0.gridWidth } ?? false }),
            ("a one-pixel patch", { $0.vit?.patch == 1 }),
            ("a class token f32[d]", { $0.vit?.clsAsRow == false }),
            ("a class token f32[1, d]", { $0.vit?.clsAsRow == true }),
            ("a classifier on the class token", { $0.vit?.classifier == .classToken }),
            ("a classifier on every row", { $0.vit?.classifier == .allRows }),
        ]
        for (name, holds) in options {
            #expect(specs.contains(where: holds), "no random spec has \(name)")
        }
        #expect(Set(specs.map(\.eps)) == Set(ModelSpec.epsChoices))
        #expect(Set(specs.map(\.layers)) == [1, 2, 3, 4])
    }

    @Test func randomSpecsAreReproducible() {
        #expect(ModelSpec.random(seed: 42) == ModelSpec.random(seed: 42))
        #expect(Set(Self.specs).count > 290, "seeds should give different specs")
    }

    /// The generated text of a hand-built GPT: names and layout as documented.
    @Test func sequentialTiedGPTReadsLikeGPT2() throws {
        let spec = ModelSpec(kind: .gpt(.init(vocab: 11, maxSeq: 4, tiedHead: true)), width: 6, heads: 3, layers: 1)
        let module = generateModel(spec)
        #expect(verifyModule(module, file: "generated.tir").isEmpty)
        let text = printModule(module)
        for line in [
            "input %tokens : i32[T]",
            "%h0.n1 = layernorm(%x0, @h0.ln1.g, @h0.ln1.b) {eps = 1e-05} : f32[T, 6]",
            "%h0.att = attention(%h0.qkv) {heads = 3, causal = true} : f32[T, 6]",
            "%h0.x2 = add(%h0.x1, %h0.out) : f32[T, 6]",
            "%logits = linear(%nf, @wte) {transposed = true} : f32[T, 11]",
        ] {
            #expect(text.contains(line), "missing '\(line)' in\n\(text)")
        }
    }

    /// A parallel block reads one norm from both branches and adds both to the stream.
    @Test func parallelBlockSharesItsNorm() {
        let spec = ModelSpec(kind: .vit(.init()), width: 4, heads: 1, layers: 1, blockStyle: .parallel,
                             attentionInput: .separate, normGain: false, normBias: false)
        let module = generateModel(spec)
        #expect(verifyModule(module, file: "generated.tir").isEmpty)
        let readers = module.body.filter { $0.operands.contains(.value("h0.n")) }.map(\.result)
        #expect(readers == ["h0.q", "h0.k", "h0.v", "h0.fc"])
        #expect(module.body.filter { $0.op == .layernorm }.map(\.result) == ["h0.n", "nf"])
    }

    /// The JIT against the Double interpreter on six GPTs and six ViTs, at sequence length 1
    /// and at the maximum.
    @Test func jitMatchesInterpreterOnRandomModels() throws {
        var worst = 0.0
        for (seed, spec) in Self.differentialSeeds() {
            let module = generateModel(spec)
            let text = printModule(module)
            let weights = try loadWeights(for: module, tirPath: "generated.tir")
            let jit = try JITModel(module, weights: weights)
            let interpreter = Interpreter(module: module, weights: weights)
            let model = LoadedModel(path: "generated.tir", source: text, module: module, weights: weights)
            for seqLen in Set([1, module.maxSeqLen]).sorted() {
                let inputs = fillRandomInputs(model, given: [:], seed: UInt64(seed), seqLen: seqLen)
                let native = try jit.run(inputs: inputs, seqLen: seqLen)
                let reference = try interpreter.run(inputs: inputs, seqLen: seqLen)
                for output in module.outputs {
                    let a = try #require(native[output.name]), r = try #require(reference[output.name])
                    let error = Self.relativeError(a.floats, r)
                    worst = max(worst, error)
                    #expect(error <= 1e-5, "seq \(seqLen): max relative error \(error)\n\(reproduction(seed: seed, spec, text))")
                }
            }
        }
        print("ModelGeneratorTests: JIT vs interpreter on 12 random models, max relative error \(worst)")
    }

    /// The first six GPT and six ViT seeds from 1000 on: both kinds, whatever the draw.
    private static func differentialSeeds() -> [(Int, ModelSpec)] {
        let candidates = (1000..<1200).map { ($0, ModelSpec.random(seed: UInt64($0))) }
        return Array(candidates.filter { $0.1.gpt != nil }.prefix(6)) + Array(candidates.filter { $0.1.vit != nil }.prefix(6))
    }

    /// max |a - b| / max |reference|: relative to the output's scale, meaningful near zero.
    private static func relativeError(_ a: [Float], _ reference: [Double]) -> Double {
        guard a.count == reference.count else { return .infinity }
        let scale = max(reference.map(abs).max() ?? 0, 1e-30)
        return zip(a, reference).map { abs(Double($0) - $1) }.max().map { $0 / scale } ?? 0
    }
}

/// What a failure prints: the seed, the spec and the model's text, enough to rerun it.
private func reproduction(seed: Int, _ spec: ModelSpec, _ text: String) -> String {
    "ModelSpec.random(seed: \(seed)) = \(spec)\n\(text)"
}

private extension Error {
    func renderedDiagnostics(source: String) -> String {
        switch self {
        case let list as DiagnosticList: return list.rendered(source: source)
        case let diagnostic as Diagnostic: return diagnostic.rendered(source: source)
        default: return "\(self)"
        }
    }
}
