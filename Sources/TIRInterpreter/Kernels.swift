// The math of each TIR op, one function per op, on Double tensors: the definition the compiled
// code is checked against. Straight loops for clarity; every shape is checked before indexing.

import Foundation
import TIR

enum Kernel {
    // MARK: - Embeddings

    /// `y[r, :] = table[ids[r], :]`. An id outside [0, V) is the caller's error, never a read.
    static func embedding(ids: Tensor, table: Tensor) throws -> Tensor {
        guard ids.rank == 1 else { throw InterpreterError.module("ids must be [R], got \(ids.shapeText)") }
        let (vocab, d) = try matrixShape(table, "table")
        var out: [Double] = []
        out.reserveCapacity(ids.count * d)
        for (position, id) in ids.data.enumerated() {
            guard id >= 0, id < Double(vocab), id == id.rounded() else {
                throw InterpreterError.input(
                    "token id \(formatID(id)) out of range [0, \(vocab)) at position \(position)")
            }
            out += table.row(Int(id), cols: d)
        }
        return Tensor(shape: [ids.count, d], data: out)
    }

    /// `rows` rows of a learned position table from row `offset`: `y[r, :] = table[offset + r, :]`.
    static func positions(table: Tensor, rows: Int, offset: Int = 0) throws -> Tensor {
        let (available, d) = try matrixShape(table, "table")
        guard rows >= 0, offset >= 0, offset + rows <= available else {
            throw InterpreterError.module("\(rows) positions from row \(offset) asked of a table with \(available) rows")
        }
        return Tensor(shape: [rows, d], data: Array(table.data[(offset * d)..<((offset + rows) * d)]))
    }

    /// Non-overlapping p x p patches of a [C, H, W] image, in row-major order over the
    /// (H/p, W/p) grid, each flattened in (c, kh, kw) order, then `patches @ w + b`.
    /// This is a stride-p Conv2d: its weight [d, C, p, p] reshaped to [d, C*p*p] and transposed is w.
    /// `bf16Input`: `compute = bf16`, as for `linear` (each pixel rounded before the product).
    static func patchEmbed(image: Tensor, weight: Tensor, bias: Tensor?, patch p: Int, transposed: Bool,
                           bf16Input: Bool = false) throws -> Tensor {
        guard image.rank == 3 else { throw InterpreterError.module("image must be [C, H, W], got \(image.shapeText)") }
        let (channels, height, width) = (image.shape[0], image.shape[1], image.shape[2])
        // p <= height and width first, so that C*p*p below cannot overflow. Like a convolution
        // with stride p, pixels past the last whole patch are not used.
        guard p >= 1, p <= height, p <= width else {
            throw InterpreterError.module("patch \(p) does not fit a \(height)x\(width) image")
        }
        let (gridRows, gridCols) = (height / p, width / p)
        let patchSize = channels * p * p
        var patches: [Double] = []
        patches.reserveCapacity(gridRows * gridCols * patchSize)
        for gy in 0..<gridRows {
            for gx in 0..<gridCols {
                for c in 0..<channels {
                    for kh in 0..<p {
                        for kw in 0..<p {
                            let (y, x) = (gy * p + kh, gx * p + kw)
                            patches.append(image.data[(c * height + y) * width + x])
                        }
                    }
                }
            }
        }
        let flat = Tensor(shape: [gridRows * gridCols, patchSize], data: patches)
        return try linear(flat, weight: weight, bias: bias, transposed: transposed, bf16Input: bf16Input)
    }

    /// `[cls; x]`: the class token (shape [d] or [1, d]) as row 0, then the rows of x [N, d].
    static func clsToken(_ x: Tensor, cls: Tensor) throws -> Tensor {
        let (rows, d) = try matrixShape(x, "x")
        guard cls.shape == [d] || cls.shape == [1, d] else {
            throw InterpreterError.module("cls must be [\(d)] or [1, \(d)], got \(cls.shapeText)")
        }
        return Tensor(shape: [rows + 1, d], data: cls.data + x.data)
    }

    // MARK: - Elementwise and linear

    /// `y = a + b`, elementwise over equal shapes (no broadcasting).
    static func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.shape == b.shape else {
            throw InterpreterError.module("cannot add \(a.shapeText) and \(b.shapeText)")
        }
        return Tensor(shape: a.shape, data: zip(a.data, b.data).map { $0 + $1 })
    }

    /// `y = a * b`, elementwise over equal shapes (no broadcasting).
    static func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.shape == b.shape else {
            throw InterpreterError.module("cannot multiply \(a.shapeText) and \(b.shapeText)")
        }
        return Tensor(shape: a.shape, data: zip(a.data, b.data).map { $0 * $1 })
    }

    /// `y = x @ w + b` with w [in, out]; transposed: w is [out, in] (PyTorch nn.Linear, or a tied
    /// head reading the embedding table) and `y = x @ w^T + b`.
    /// `bf16Input` (`compute = bf16`): every element of x is rounded to bfloat16 (nearest even)
    /// before the product; the products, sums and bias stay in Double.
    static func linear(_ x: Tensor, weight w: Tensor, bias: Tensor?, transposed: Bool,
                       bf16Input: Bool = false) throws -> Tensor {
        let x = bf16Input ? Tensor(shape: x.shape, data: x.data.map(roundedToBF16)) : x
        let (rows, inner) = try matrixShape(x, "x")
        let (wRows, wCols) = try matrixShape(w, "weight")
        let (wIn, outer) = transposed ? (wCols, wRows) : (wRows, wCols)
        guard wIn == inner else {
            throw InterpreterError.module(
                "x \(x.shapeText) does not fit weight \(w.shapeText)\(transposed ? " (transposed)" : "")")
        }
        try checkVector(bias, width: outer, "bias")
        var out: [Double] = []
        out.reserveCapacity(rows * outer)
        for r in 0..<rows {
            // y[r, o] = b[o] + sum_i x[r, i] * W[i, o]
            var y = bias?.data ?? [Double](repeating: 0, count: outer)
            for i in 0..<inner {
                let xi = x.data[r * inner + i]
                for o in 0..<outer {
                    let wio = transposed ? w.data[o * inner + i] : w.data[i * outer + o]
                    y[o] += xi * wio
                }
            }
            out += y
        }
        return Tensor(shape: [rows, outer], data: out)
    }

    /// `v` rounded to bfloat16 as `compute = bf16` rounds it: first to float32, then to the
    /// nearest bfloat16 (ties to even). Rounding twice is deliberate: the compiled code holds
    /// the activation as a float32 and rounds that float32, so the oracle rounds the same
    /// number; rounding the Double in one step could differ just off a bfloat16 tie.
    static func roundedToBF16(_ v: Double) -> Double {
        Double(floatFromBF16(bf16Bits(Float(v))))
    }

    /// GELU, exact: `0.5 x (1 + erf(x / sqrt 2))`; tanh (GPT-2):
    /// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
    static func gelu(_ x: Tensor, approximation: String) throws -> Tensor {
        let f: (Double) -> Double
        switch approximation {
        case "none": f = { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }
        case "tanh": f = { 0.5 * $0 * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }
        default: throw InterpreterError.module("unknown gelu approximation '\(approximation)'")
        }
        return Tensor(shape: x.shape, data: x.data.map(f))
    }

    /// `y = tanh(x)`, elementwise.
    static func tanh(_ x: Tensor) -> Tensor {
        Tensor(shape: x.shape, data: x.data.map { Foundation.tanh($0) })
    }

    /// `y = max(x, 0)`, elementwise; NaN stays NaN (the comparison is false for it).
    static func relu(_ x: Tensor) -> Tensor {
        Tensor(shape: x.shape, data: x.data.map { $0 < 0 ? 0 : $0 })
    }

    /// Rotary position embedding of x [R, heads*dh], row r at position r: in every head, columns
    /// i and i + rotary/2 (i < rotary/2) are turned by the angle r * base^(-2i/rotary):
    /// (a, b) -> (a cos - b sin, b cos + a sin); columns from rotary on are kept.
    static func rope(_ x: Tensor, heads: Int, rotaryDims rotary: Int, base: Double) throws -> Tensor {
        let (rows, width) = try matrixShape(x, "x")
        guard heads > 0, width % heads == 0, rotary > 0, rotary % 2 == 0, rotary <= width / heads else {
            throw InterpreterError.module("rope: heads \(heads) and rotary_dims \(rotary) do not fit the width \(width)")
        }
        let dh = width / heads, half = rotary / 2
        var out = x.data
        for r in 0..<rows {
            for i in 0..<half {
                let angle = Double(r) * pow(base, -2 * Double(i) / Double(rotary))
                let (c, s) = (cos(angle), sin(angle))
                for h in 0..<heads {
                    let at = r * width + h * dh + i
                    let (a, b) = (x.data[at], x.data[at + half])
                    out[at] = a * c - b * s
                    out[at + half] = b * c + a * s
                }
            }
        }
        return Tensor(shape: x.shape, data: out)
    }

    /// Row `index` of x [R, d], as [1, d].
    static func selectRow(_ x: Tensor, index: Int) throws -> Tensor {
        let (rows, d) = try matrixShape(x, "x")
        guard index >= 0, index < rows else {
            throw InterpreterError.module("row \(index) out of range [0, \(rows))")
        }
        return Tensor(shape: [1, d], data: Array(x.row(index, cols: d)))
    }

    // MARK: - Norms (over the last axis; gain and bias optional: absent = 1 and 0)

    /// `(x - mean) / sqrt(var + eps) * g + b`, population variance.
    static func layerNorm(_ x: Tensor, gain: Tensor?, bias: Tensor?, eps: Double) throws -> Tensor {
        try normalizeRows(x, gain: gain, bias: bias) { row in
            let n = Double(row.count)
            let mean = row.reduce(0, +) / n
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
            return row.map { ($0 - mean) / (variance + eps).squareRoot() }
        }
    }

    /// `x / sqrt(mean(x^2) + eps) * g + b`.
    static func rmsNorm(_ x: Tensor, gain: Tensor?, bias: Tensor?, eps: Double) throws -> Tensor {
        try normalizeRows(x, gain: gain, bias: bias) { row in
            let meanSquare = row.reduce(0) { $0 + $1 * $1 } / Double(row.count)
            return row.map { $0 / (meanSquare + eps).squareRoot() }
        }
    }

    /// CRMSNorm: a row z of width m = d-1 stands for the zero-mean d-vector [z, -sum(z)], so
    /// `z / sqrt((sum(z^2) + sum(z)^2) / (m+1) + eps) * g + b`. The divisor is d, not d-1.
    static func crmsNorm(_ x: Tensor, gain: Tensor?, bias: Tensor?, eps: Double) throws -> Tensor {
        try normalizeRows(x, gain: gain, bias: bias) { row in
            let sum = row.reduce(0, +)
            let sumSquares = row.reduce(0) { $0 + $1 * $1 }
            let meanSquare = (sumSquares + sum * sum) / Double(row.count + 1)
            return row.map { $0 / (meanSquare + eps).squareRoot() }
        }
    }

    /// Applies `normalize` to each row (the last axis), then the optional affine `* g + b`.
    private static func normalizeRows(_ x: Tensor, gain: Tensor?, bias: Tensor?,
                                      normalize: (ArraySlice<Double>) -> [Double]) throws -> Tensor {
        guard let width = x.shape.last, width > 0 else {
            throw InterpreterError.module("cannot normalize a tensor of shape \(x.shapeText)")
        }
        try checkVector(gain, width: width, "gain")
        try checkVector(bias, width: width, "bias")
        var out: [Double] = []
        out.reserveCapacity(x.count)
        for r in 0..<(x.count / width) {
            let normalized = normalize(x.row(r, cols: width))
            for (j, value) in normalized.enumerated() {
                out.append(value * (gain?.data[j] ?? 1) + (bias?.data[j] ?? 0))
            }
        }
        return Tensor(shape: x.shape, data: out)
    }

    // MARK: - Attention

    /// Splits a fused [R, 3*i] operand into q, k, v (column blocks, GPT-2's c_attn layout).
    static func splitFused(_ qkv: Tensor) throws -> (q: Tensor, k: Tensor, v: Tensor) {
        let (rows, cols) = try matrixShape(qkv, "qkv")
        guard cols % 3 == 0 else { throw InterpreterError.module("fused qkv width \(cols) is not a multiple of 3") }
        let inner = cols / 3
        func block(_ b: Int) -> Tensor {
            var data: [Double] = []
            data.reserveCapacity(rows * inner)
            for r in 0..<rows { data += qkv.data[(r * cols + b * inner)..<(r * cols + (b + 1) * inner)] }
            return Tensor(shape: [rows, inner], data: data)
        }
        return (block(0), block(1), block(2))
    }

    /// Multi-head scaled dot-product attention over q, k, v [R, i]: head j reads and writes
    /// columns j*dh..<(j+1)*dh (dh = i / heads);
    /// `out_j = softmax(q_j k_j^T / sqrt(dh) + mask) v_j`, where the causal mask hides keys
    /// after the query. The softmax subtracts the row max first so exp cannot overflow.
    static func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, causal: Bool) throws -> Tensor {
        let (rows, inner) = try matrixShape(q, "q")
        guard k.shape == q.shape, v.shape == q.shape else {
            throw InterpreterError.module("q \(q.shapeText), k \(k.shapeText), v \(v.shapeText) differ in shape")
        }
        guard heads >= 1, inner % heads == 0 else {
            throw InterpreterError.module("\(heads) heads do not divide width \(inner)")
        }
        let dh = inner / heads
        let scale = 1 / Double(dh).squareRoot()
        var out = [Double](repeating: 0, count: rows * inner)
        for head in 0..<heads {
            let c0 = head * dh
            for query in 0..<rows {
                let keys = causal ? query + 1 : rows
                // scores[key] = q[query] . k[key] / sqrt(dh)
                var scores = [Double](repeating: 0, count: keys)
                for key in 0..<keys {
                    var dot = 0.0
                    for c in c0..<(c0 + dh) { dot += q.data[query * inner + c] * k.data[key * inner + c] }
                    scores[key] = dot * scale
                }
                let maxScore = scores.max() ?? 0
                let weights = scores.map { exp($0 - maxScore) }
                let total = weights.reduce(0, +)
                // out[query, head block] = sum_key p[key] * v[key, head block]
                for key in 0..<keys {
                    let p = weights[key] / total
                    for c in c0..<(c0 + dh) { out[query * inner + c] += p * v.data[key * inner + c] }
                }
            }
        }
        return Tensor(shape: [rows, inner], data: out)
    }

    // MARK: - Shape checks

    /// (rows, cols) of a rank-2 tensor, or an error naming the operand.
    private static func matrixShape(_ t: Tensor, _ name: String) throws -> (Int, Int) {
        guard t.rank == 2 else { throw InterpreterError.module("\(name) must be a matrix, got \(t.shapeText)") }
        return (t.shape[0], t.shape[1])
    }

    /// An optional per-column vector (gain, bias) must be [width] when present.
    private static func checkVector(_ t: Tensor?, width: Int, _ name: String) throws {
        if let t, t.shape != [width] {
            throw InterpreterError.module("\(name) must be [\(width)], got \(t.shapeText)")
        }
    }

    /// An id as the caller wrote it: `300`, not `300.0`.
    private static func formatID(_ id: Double) -> String {
        id == id.rounded() && abs(id) < 1e15 ? String(Int(id)) : "\(id)"
    }
}
