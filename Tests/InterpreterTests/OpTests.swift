// Each op on its own, against values worked out by hand or by a separate plain formula.

import Foundation
import Testing
import TIR
import TIRInterpreter

@Suite("Interpreter ops")
struct OpTests {
    // MARK: - Embeddings

    @Test func embeddingGathersRows() throws {
        let table = f32([4, 2], [0, 1, 10, 11, 20, 21, 30, 31])
        let y = try evaluateOp(.embedding, inputs: ["ids": i32([2, 0, 2, 3])], params: ["table": table], shape: [4, 2])
        #expect(y == [20, 21, 0, 1, 20, 21, 30, 31])
    }

    @Test func positionsTakeTheFirstSeqLenRows() throws {
        var b = ModelBuilder("positions", maxSeq: 5)
        let wpe = b.param("wpe", [5, 2])
        b.op("pos", .positions, [wpe], [], [T, .fixed(2)])
        b.output("pos")
        let table = f32([5, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        #expect(try runFirstOutput(b.module, weights: ["wpe": table], inputs: [:], seqLen: 3) == [0, 1, 2, 3, 4, 5])
        #expect(try runFirstOutput(b.module, weights: ["wpe": table], inputs: [:], seqLen: 5).count == 10)
    }

    @Test func positionsFromAnOffset() throws {
        var b = ModelBuilder("positions", maxSeq: 3)
        let wpe = b.param("wpe", [5, 2])
        b.op("pos", .positions, [wpe], [("offset", .int(2))], [T, .fixed(2)])
        b.output("pos")
        let table = f32([5, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        #expect(try runFirstOutput(b.module, weights: ["wpe": table], inputs: [:], seqLen: 2) == [4, 5, 6, 7])
    }

    /// rope on one head of 6 columns, 4 of them rotary, base 100: row r turns (x0, x2) by r and
    /// (x1, x3) by r * 100^(-1/2) = r / 10; x4 and x5 are kept.
    @Test func ropeTurnsPairsByPositionAndFrequency() throws {
        var b = ModelBuilder("rope", maxSeq: 3)
        let x = b.input("x", .f32, [T, .fixed(6)])
        b.op("y", .rope, [x], [("heads", .int(1)), ("rotary_dims", .int(4)), ("base", .float(100))], [T, .fixed(6)])
        b.output("y")
        let row: [Double] = [1, 2, 3, 4, 5, 6]
        let y = try runFirstOutput(b.module, weights: [:], inputs: ["x": f32([3, 6], row + row + row)], seqLen: 3)
        for r in 0..<3 {
            let (a0, a1) = (Double(r), Double(r) / 10)
            let expected = [1 * cos(a0) - 3 * sin(a0), 2 * cos(a1) - 4 * sin(a1),
                            3 * cos(a0) + 1 * sin(a0), 4 * cos(a1) + 2 * sin(a1), 5, 6]
            for (got, want) in zip(y[(r * 6)..<(r * 6 + 6)], expected) { #expect(abs(got - want) < 1e-12, "row \(r)") }
        }
    }

    @Test("patch_embed: row-major over the grid, each patch in (c, kh, kw) order")
    func patchOrder() throws {
        // pixel (c, y, x) = 100c + 10y + x; an identity weight shows each flattened patch as is.
        var pixels: [Double] = []
        for c in 0..<2 { for y in 0..<4 { for x in 0..<4 { pixels.append(Double(100 * c + 10 * y + x)) } } }
        let image = f32([2, 4, 4], pixels)
        let identity = f32([8, 8], (0..<64).map { (i: Int) -> Double in i / 8 == i % 8 ? 1 : 0 })
        let y = try evaluateOp(.patchEmbed, inputs: ["image": image], params: ["w": identity],
                               attrs: [("patch", .int(2))], shape: [4, 8])
        #expect(y == [
            0, 1, 10, 11, 100, 101, 110, 111,  // grid (0, 0)
            2, 3, 12, 13, 102, 103, 112, 113,  // grid (0, 1)
            20, 21, 30, 31, 120, 121, 130, 131,  // grid (1, 0)
            22, 23, 32, 33, 122, 123, 132, 133,  // grid (1, 1)
        ])
    }

    @Test func patchEmbedProjectsAndAddsBias() throws {
        // One 2x2 patch [1, 2, 3, 4] . [1, 2, 3, 4] = 30, plus 0.5; second column: 1 + 2 + 3 + 4.
        let y = try evaluateOp(.patchEmbed, inputs: ["image": f32([1, 2, 2], [1, 2, 3, 4])],
                               params: ["w": f32([4, 2], [1, 1, 2, 1, 3, 1, 4, 1]), "b": f32([2], [0.5, -1])],
                               attrs: [("patch", .int(2))], shape: [1, 2])
        #expect(y == [30.5, 9])
    }

    @Test(arguments: [[3], [1, 3]])
    func clsTokenComesFirst(clsShape: [Int]) throws {
        let y = try evaluateOp(.clsToken, inputs: ["x": f32([2, 3], [1, 2, 3, 4, 5, 6])],
                               params: ["cls": f32(clsShape, [7, 8, 9])], shape: [3, 3])
        #expect(y == [7, 8, 9, 1, 2, 3, 4, 5, 6])
    }

    // MARK: - Elementwise and linear

    @Test func addIsElementwise() throws {
        let (a, b) = (f32([1, 3], [1, 2, 3]), f32([1, 3], [10, 20, 0.5]))
        let y = try evaluateOp(.add, inputs: ["a": a, "b": b], shape: [1, 3])
        #expect(y == [11, 22, 3.5])
    }

    @Test func mulIsElementwise() throws {
        let (a, b) = (f32([2, 2], [1, -2, 3, 0.5]), f32([2, 2], [10, 20, -0.5, 0.5]))
        #expect(try evaluateOp(.mul, inputs: ["a": a, "b": b], shape: [2, 2]) == [10, -40, -1.5, 0.25])
    }

    @Test func tanhAtKnownPoints() throws {
        let x: [Double] = [0, 0.5, -2, 20, -.infinity]
        let y = try evaluateOp(.tanh, inputs: ["x": f32([1, 5], x)], shape: [1, 5])
        #expect(allClose(y, [0, 0.46211715726000974, -0.9640275800758169, 1, -1], 1e-16))
    }

    @Test func reluClampsNegativesOnly() throws {
        let y = try evaluateOp(.relu, inputs: ["x": f32([2, 3], [-1, 0, 2.5, -0.001, 7, .infinity])], shape: [2, 3])
        #expect(y == [0, 0, 2.5, 0, 7, .infinity])
        let nan = try evaluateOp(.relu, inputs: ["x": f32([1, 1], [.nan])], shape: [1, 1])
        #expect(nan.first?.isNaN == true)
    }

    @Test func linearIsXTimesWPlusB() throws {
        // [[1, 2, 3], [4, 5, 6]] @ [[1, 0], [0, 1], [1, 1]] = [[4, 5], [10, 11]]
        let x = f32([2, 3], [1, 2, 3, 4, 5, 6])
        let w = f32([3, 2], [1, 0, 0, 1, 1, 1])
        let bias = f32([2], [0.5, -1])
        #expect(try evaluateOp(.linear, inputs: ["x": x], params: ["w": w], shape: [2, 2]) == [4, 5, 10, 11])
        #expect(try evaluateOp(.linear, inputs: ["x": x], params: ["w": w, "b": bias], shape: [2, 2])
                    == [4.5, 4, 10.5, 10])
        // The same weight stored [out, in], as PyTorch does.
        let wT = f32([2, 3], [1, 0, 1, 0, 1, 1])
        #expect(try evaluateOp(.linear, inputs: ["x": x], params: ["w": wT, "b": bias],
                               attrs: [("transposed", .bool(true))], shape: [2, 2]) == [4.5, 4, 10.5, 10])
    }

    @Test("gelu at known points", arguments: [
        ("none", 1.0, 0.8413447460685429), ("none", -1.0, -0.15865525393145707), ("none", 0.0, 0.0),
        ("tanh", 1.0, 0.8411919906082768), ("tanh", 0.0, 0.0),
    ])
    func gelu(approximation: String, x: Double, expected: Double) throws {
        let y = try evaluateOp(.gelu, inputs: ["x": f32([1, 1], [x])],
                               attrs: [("approximation", .word(approximation))], shape: [1, 1])
        #expect(allClose(y, [expected], 1e-15))
    }

    @Test func selectRowPicksOneRow() throws {
        let x = f32([3, 2], [0, 1, 2, 3, 4, 5])
        #expect(try evaluateOp(.selectRow, inputs: ["x": x], attrs: [("index", .int(2))], shape: [1, 2]) == [4, 5])
    }

    @Test("omitted attributes take the op table's defaults")
    func defaults() throws {
        #expect(try evaluateOp(.selectRow, inputs: ["x": f32([2, 2], [0, 1, 2, 3])], shape: [1, 2]) == [0, 1])
        #expect(try evaluateOp(.linear, inputs: ["x": f32([1, 2], [1, 2])], params: ["w": f32([2, 1], [3, 4])],
                               shape: [1, 1]) == [11])
        let gelu = try evaluateOp(.gelu, inputs: ["x": f32([1, 1], [1])], shape: [1, 1])
        #expect(allClose(gelu, [0.8413447460685429], 1e-15))
        // Not causal: the first row attends to the second one too.
        let v = f32([2, 1], [1, 3])
        let zeros = f32([2, 1], [0, 0])
        let att = try evaluateOp(.attention, inputs: ["q": zeros, "k": zeros, "v": v],
                                 attrs: [("heads", .int(1))], shape: [2, 1])
        #expect(att == [2, 2])
    }

    // MARK: - Norms

    @Test func layerNormByHand() throws {
        // [1, 2, 3, 4]: mean 2.5, population variance 1.25. A constant row normalizes to 0.
        let g = [1.0, -1, 2, 0.5], b = [0.0, 1, 0, -1]
        let y = try evaluateOp(.layernorm, inputs: ["x": f32([2, 4], [1, 2, 3, 4, 2, 2, 2, 2])],
                               params: ["g": f32([4], g), "b": f32([4], b)], attrs: [("eps", .float(1e-5))],
                               shape: [2, 4])
        let normalized = [-1.5, -0.5, 0.5, 1.5].map { $0 / (1.25 + 1e-5).squareRoot() }
        #expect(allClose(y, (0..<4).map { normalized[$0] * g[$0] + b[$0] } + b, 1e-15))
    }

    @Test func rmsNormByHand() throws {
        // mean of squares of [1, 2, 3, 4] = 30 / 4
        let y = try evaluateOp(.rmsnorm, inputs: ["x": f32([1, 4], [1, 2, 3, 4])],
                               params: ["g": f32([4], [2, 2, 2, 2]), "b": f32([4], [1, 1, 1, 1])],
                               attrs: [("eps", .float(1e-5))], shape: [1, 4])
        #expect(allClose(y, [1, 2, 3, 4].map { 2 * $0 / (7.5 + 1e-5).squareRoot() + 1 }, 1e-15))
    }

    @Test func crmsNormByHand() throws {
        // [1, 2, 3] stands for [1, 2, 3, -6]: (14 + 36) / 4 = 12.5, dividing by d = 4, not 3.
        let y = try evaluateOp(.crmsnorm, inputs: ["x": f32([1, 3], [1, 2, 3])],
                               attrs: [("eps", .float(1e-5))], shape: [1, 3])
        #expect(allClose(y, [1, 2, 3].map { $0 / (12.5 + 1e-5).squareRoot() }, 1e-15))
    }

    @Test("on a zero-mean row, LayerNorm = RMSNorm, and CRMSNorm of the first d-1 agrees")
    func normsAgreeOnZeroMeanRows() throws {
        let eps: [(key: String, value: AttrValue)] = [("eps", .float(0.5))]
        let row = f32([1, 4], [1, 2, 3, -6])
        let ln = try evaluateOp(.layernorm, inputs: ["x": row], attrs: eps, shape: [1, 4])
        let rms = try evaluateOp(.rmsnorm, inputs: ["x": row], attrs: eps, shape: [1, 4])
        let crms = try evaluateOp(.crmsnorm, inputs: ["x": f32([1, 3], [1, 2, 3])], attrs: eps, shape: [1, 3])
        #expect(allClose(ln, rms, 1e-15))
        #expect(allClose(crms, Array(ln.prefix(3)), 1e-15))
    }

    // MARK: - Attention

    @Test func attentionOneHeadByHand() throws {
        // q = k = I, v = [[1, 2], [3, 4]], dh = 2: each query scores itself 1/sqrt(2), the other 0.
        let q = f32([2, 2], [1, 0, 0, 1]), v = f32([2, 2], [1, 2, 3, 4])
        let a = exp(1 / 2.0.squareRoot())
        let (p, rest) = (a / (a + 1), 1 / (a + 1))
        let full = try evaluateOp(.attention, inputs: ["q": q, "k": q, "v": v],
                                  attrs: [("heads", .int(1)), ("causal", .bool(false))], shape: [2, 2])
        #expect(allClose(full, [p * 1 + rest * 3, p * 2 + rest * 4, rest * 1 + p * 3, rest * 2 + p * 4], 1e-15))
        // Causal: the first query sees only the first key.
        let causal = try evaluateOp(.attention, inputs: ["q": q, "k": q, "v": v],
                                    attrs: [("heads", .int(1)), ("causal", .bool(true))], shape: [2, 2])
        #expect(allClose(causal, [1, 2] + Array(full[2...]), 1e-15))
    }

    @Test("attention matches a plain formula, per head, fused or not", arguments: [false, true])
    func attentionMatchesPlainFormula(causal: Bool) throws {
        let (rows, inner, heads) = (4, 6, 2)
        let qkv = DyadicWeights.tensor("qkv", [rows, 3 * inner])
        let (q, k, v) = columnBlocks(qkv.doubles, rows: rows, cols: 3 * inner, width: inner)
        let attrs: [(key: String, value: AttrValue)] = [("heads", .int(heads)), ("causal", .bool(causal))]
        let fused = try evaluateOp(.attention, inputs: ["qkv": qkv], attrs: attrs, shape: [rows, inner])
        let separate = try evaluateOp(.attention, inputs: ["q": f32([rows, inner], q), "k": f32([rows, inner], k),
                                                          "v": f32([rows, inner], v)],
                                      attrs: attrs, shape: [rows, inner])
        let expected = plainAttention(q: q, k: k, v: v, rows: rows, inner: inner, heads: heads, causal: causal)
        #expect(allClose(fused, expected, 1e-14))
        #expect(fused == separate)
    }

    @Test("causal: a later token does not change earlier rows")
    func causalMask() throws {
        let (rows, inner) = (5, 4)
        let attrs: [(key: String, value: AttrValue)] = [("heads", .int(2)), ("causal", .bool(true))]
        var data = DyadicWeights.tensor("qkv", [rows, 3 * inner]).doubles
        let before = try evaluateOp(.attention, inputs: ["qkv": f32([rows, 3 * inner], data)], attrs: attrs,
                                    shape: [rows, inner])
        for c in 0..<(3 * inner) { data[(rows - 1) * 3 * inner + c] += 1 }  // the last token's q, k and v
        let after = try evaluateOp(.attention, inputs: ["qkv": f32([rows, 3 * inner], data)], attrs: attrs,
                                   shape: [rows, inner])
        let earlier = (rows - 1) * inner
        #expect(Array(after.prefix(earlier)) == Array(before.prefix(earlier)))
        #expect(Array(after.suffix(inner)) != Array(before.suffix(inner)))
    }

    @Test("softmax subtracts the max: huge scores stay finite")
    func softmaxIsSafe() throws {
        // Scores 100 * 100 / sqrt(2) = 7071: exp would overflow; the weights are (1, 0).
        let q = f32([2, 2], [100, 0, 100, 0]), k = f32([2, 2], [100, 0, 0, 0]), v = f32([2, 2], [1, 2, 3, 4])
        let y = try evaluateOp(.attention, inputs: ["q": q, "k": k, "v": v], attrs: [("heads", .int(1))], shape: [2, 2])
        #expect(y == [1, 2, 1, 2])
    }

    @Test("a static model ignores seqLen")
    func staticModelIgnoresSeqLen() throws {
        var b = ModelBuilder("static")
        let x = b.input("x", .f32, [.fixed(1), .fixed(2)])
        b.op("y", .add, [x, x], [], [.fixed(1), .fixed(2)])
        b.output("y")
        for seqLen in [0, 1, 99] {
            #expect(try runFirstOutput(b.module, inputs: ["x": f32([1, 2], [1, 2])], seqLen: seqLen) == [2, 4])
        }
    }

    @Test("every output comes back by name")
    func severalOutputs() throws {
        var b = ModelBuilder("two")
        let x = b.input("x", .f32, [.fixed(1), .fixed(2)])
        let y = b.op("y", .add, [x, x], [], [.fixed(1), .fixed(2)])
        b.op("z", .add, [y, x], [], [.fixed(1), .fixed(2)])
        b.output("z")
        b.output("y")
        let interpreter = Interpreter(module: b.module, weights: Weights())
        let outputs = try interpreter.run(inputs: ["x": f32([1, 2], [1, 2])], seqLen: 1)
        #expect(outputs == ["y": [2, 4], "z": [3, 6]])
    }
}

// MARK: - A second, plain attention

/// The three [rows, width] column blocks of a [rows, cols] matrix.
private func columnBlocks(_ m: [Double], rows: Int, cols: Int, width: Int) -> ([Double], [Double], [Double]) {
    func block(_ b: Int) -> [Double] {
        var out: [Double] = []
        for r in 0..<rows { out += m[(r * cols + b * width)..<(r * cols + (b + 1) * width)] }
        return out
    }
    return (block(0), block(1), block(2))
}

/// softmax(Q K^T / sqrt(dh) + mask) V for each head, written as matrices: the full score matrix
/// with -inf where masked, then a plain softmax (the test values are small enough not to need
/// the max subtracted).
private func plainAttention(q: [Double], k: [Double], v: [Double], rows: Int, inner: Int, heads: Int,
                            causal: Bool) -> [Double] {
    let dh = inner / heads
    var out = [Double](repeating: 0, count: rows * inner)
    for h in 0..<heads {
        let cols = (h * dh)..<((h + 1) * dh)
        var probabilities = [[Double]](repeating: [Double](repeating: 0, count: rows), count: rows)
        for i in 0..<rows {
            var scores = [Double](repeating: -Double.infinity, count: rows)
            for j in 0..<rows where !(causal && j > i) {
                var dot = 0.0
                for c in cols { dot += q[i * inner + c] * k[j * inner + c] }
                scores[j] = dot / Double(dh).squareRoot()
            }
            let total = scores.map { exp($0) }.reduce(0, +)
            probabilities[i] = scores.map { exp($0) / total }
        }
        for i in 0..<rows {
            for c in cols {
                for j in 0..<rows { out[i * inner + c] += probabilities[i][j] * v[j * inner + c] }
            }
        }
    }
    return out
}
