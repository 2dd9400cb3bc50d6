// The shrinker: reduces a failing `ModelSpec` to a small one that still fails (the
// `differential` driver's reproductions). Used by `Fuzz/`'s `differential` driver and by
// Tests/TFCTests/DifferentialTests.swift.
import TIR

/// The smallest spec reachable from `spec` by greedy steps that keep `failing` true.
///
/// Each step tries smaller candidates in a fixed order (fewer layers; a smaller vocabulary,
/// sequence, image or class count; a smaller width, attention width, head count and MLP width;
/// then options turned off or back to their defaults) and moves to the first one that still
/// fails; the search ends when no candidate does. Only candidates whose model verifies are
/// tried, and none twice. Integer sizes are tried from small to large among 1, 2, n/4, n/2,
/// n-2 and n-1, so the result is a local minimum: no single size can go down by one, and no
/// option can be dropped, without the failure going away. For a failure that is monotone in
/// each size (the common case) that is the smallest failing spec.
///
/// `failing(spec)` should be true; if it is not, the result is still a failing spec when one
/// is reachable, else `spec` itself.
public func shrink(_ spec: ModelSpec, while failing: (ModelSpec) -> Bool) -> ModelSpec {
    var current = spec
    var tried: Set<ModelSpec> = [spec]
    search: while true {
        for candidate in smallerSpecs(than: current) where tried.insert(candidate).inserted {
            guard generatesValidModel(candidate), failing(candidate) else { continue }
            current = candidate
            continue search
        }
        return current
    }
}

/// Whether `generateModel(spec)` passes the verifier: hand-made sizes may not fit together.
public func generatesValidModel(_ spec: ModelSpec) -> Bool {
    verifyModule(generateModel(spec), file: "generated.tir").isEmpty
}

/// The one-step reductions of `s`, biggest structural cuts first.
func smallerSpecs(than s: ModelSpec) -> [ModelSpec] {
    var out: [ModelSpec] = []
    func with(_ change: (inout ModelSpec) -> Void) {
        var t = s
        change(&t)
        if t != s { out.append(t) }
    }

    for n in smallerSizes(s.layers) { with { $0.layers = n } }

    switch s.kind {
    case .gpt(let g):
        func gpt(_ change: (inout ModelSpec.GPT) -> Void) {
            var h = g
            change(&h)
            with { $0.kind = .gpt(h) }
        }
        for n in smallerSizes(g.maxSeq) {
            gpt { $0.positionRows = n + ($0.positionRows - $0.maxSeq); $0.maxSeq = n }
        }
        gpt { $0.positionRows = $0.maxSeq }
        for n in smallerSizes(g.vocab) { gpt { $0.vocab = n } }
        gpt { $0.tiedHead = true }
        gpt { $0.positions = .learned }
    case .vit(let v):
        func vit(_ change: (inout ModelSpec.ViT) -> Void) {
            var w = v
            change(&w)
            with { $0.kind = .vit(w) }
        }
        for n in smallerSizes(v.gridHeight) { vit { $0.gridHeight = n } }
        for n in smallerSizes(v.gridWidth) { vit { $0.gridWidth = n } }
        for n in smallerSizes(v.patch) { vit { $0.patch = n } }
        for n in smallerSizes(v.channels) { vit { $0.channels = n } }
        for n in smallerSizes(v.classes) { vit { $0.classes = n } }
        vit { $0.classifier = .classToken }
        vit { $0.clsAsRow = false }
    }

    for n in smallerSizes(s.width) { with { $0.width = n } }
    // Heads must divide the attention width: a smaller width keeps the common divisor.
    for n in smallerSizes(s.attentionWidth) {
        with {
            $0.attentionWidth = n
            $0.heads = gcd(n, $0.heads)
        }
    }
    for n in smallerSizes(s.heads) where s.attentionWidth % n == 0 { with { $0.heads = n } }
    for n in smallerSizes(s.mlpWidth) { with { $0.mlpWidth = n } }

    with { $0.blockStyle = .sequential }
    with { $0.attentionInput = .fused }
    with { $0.biases = false }
    with { $0.headBias = false }
    with { $0.headTransposed = false }
    with { $0.normGain = false }
    with { $0.normBias = false }
    with { $0.wideGains = false }
    with { $0.offset = 0 }
    with { $0.eps = 1e-5 }
    with { $0.gelu = .tanh }
    return out
}

/// Sizes below `n` worth trying, smallest first: 1, 2, n/4, n/2, n-2, n-1.
private func smallerSizes(_ n: Int) -> [Int] {
    Array(Set([1, 2, n / 4, n / 2, n - 2, n - 1]).filter { $0 >= 1 && $0 < n }).sorted()
}

private func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? max(a, 1) : gcd(b, a % b) }
