// Float64 weight arithmetic shared by the passes: centering, slicing and differences of rows
// and columns of row-major parameters, and which operand of an op is its weight (WriterWeight).
import TIR

extension ParamData {
    /// Each row minus its mean (over the last axis).
    func centeringRows() -> ParamData {
        var out = values
        let c = cols
        for r in 0..<rows {
            let mean = row(r).reduce(0, +) / Double(c)
            for j in 0..<c { out[r * c + j] -= mean }
        }
        return ParamData(shape: shape, values: out)
    }

    /// Each column minus its mean (over the first axis of a matrix).
    func centeringColumns() -> ParamData { transpose(transpose(self).centeringRows()) }

    /// Drops the last entry of every row: [..., d] -> [..., d - 1].
    func droppingLastColumn() -> ParamData {
        let c = cols
        var out: [Double] = []
        out.reserveCapacity(rows * (c - 1))
        for r in 0..<rows { out += row(r).dropLast() }
        return ParamData(shape: shape.dropLast() + [c - 1], values: out)
    }

    /// Drops the last row of a matrix: [d, m] -> [d - 1, m].
    func droppingLastRow() -> ParamData {
        ParamData(shape: [shape[0] - 1] + shape.dropFirst(), values: Array(values.dropLast(cols)))
    }

    /// Rows 0..<d-1 minus row d-1: [d, m] -> [d - 1, m]. For y = [z, -sum(z)] @ W this is the
    /// matrix that gives the same y from z alone.
    func subtractingLastRow() -> ParamData {
        let c = cols, last = Array(row(rows - 1))
        var out: [Double] = []
        out.reserveCapacity((rows - 1) * c)
        for r in 0..<(rows - 1) { out += zip(row(r), last).map { $0 - $1 } }
        return ParamData(shape: [rows - 1] + shape.dropFirst(), values: out)
    }

    /// Columns 0..<d-1 minus column d-1, for transposed [m, d] weights: -> [m, d - 1].
    func subtractingLastColumn() -> ParamData {
        let c = cols
        var out: [Double] = []
        out.reserveCapacity(rows * (c - 1))
        for r in 0..<rows {
            let lastValue = values[r * c + c - 1]
            out += row(r).dropLast().map { $0 - lastValue }
        }
        return ParamData(shape: shape.dropLast() + [c - 1], values: out)
    }
}

/// Which operand of an op is its weight, how that weight is laid out, and which is its bias:
/// the one description every pass uses to rewrite the parameters of an op that writes into a
/// residual stream (embedding, positions, linear, patch_embed) or a linear that reads a norm.
///
/// Every such op computes each output row as (a row of, or a product with) its weight plus
/// an optional bias, so a rewrite along the outputs (centering, dropping the last column) or
/// along the inputs (folding a gain, absorbing a dropped coordinate) is a rewrite of the
/// weight along one of its two axes.
struct WriterWeight {
    /// The weight's operand index: a table for embedding/positions, a matrix for linear/patch_embed.
    let weight: Int
    /// The bias's operand index, when the op has one.
    let bias: Int?
    /// True when the weight's last axis indexes the outputs ([V, d] tables, [in, out] matrices);
    /// false for `transposed = true` matrices stored [out, in].
    let outputsLast: Bool
    /// A lookup table (embedding, positions): every row is an output row; it has no input axis.
    let isTable: Bool

    /// The layout of `inst`'s weight, or nil for an op without one (or without enough operands).
    init?(_ inst: Instruction) {
        switch inst.op {
        case .embedding where inst.operands.count == 2:
            (weight, bias, outputsLast, isTable) = (1, nil, true, true)
        case .positions where inst.operands.count == 1:
            (weight, bias, outputsLast, isTable) = (0, nil, true, true)
        case .linear, .patchEmbed:
            guard inst.operands.count >= 2 else { return nil }
            let transposed = inst.bool("transposed") ?? false
            (weight, bias, outputsLast, isTable) = (1, inst.operands.count > 2 ? 2 : nil, !transposed, false)
        default:
            return nil
        }
    }

    /// The operands that must be parameters for a rewrite to change only parameters.
    var parameterOperands: [Int] { [weight] + (bias.map { [$0] } ?? []) }

    /// Row `k` of the matrix in [in, out] terms: the index of W[k, j] in the stored weight.
    func index(input k: Int, output j: Int, of w: ParamData) -> Int {
        outputsLast ? k * w.cols + j : j * w.cols + k
    }

    /// The number of inputs and outputs of a matrix weight (for a table: rows and width).
    func widths(of w: ParamData) -> (inputs: Int, outputs: Int) {
        outputsLast ? (w.rows, w.cols) : (w.cols, w.rows)
    }

    /// Every output made zero-mean for any input: each input's weights centered over the outputs.
    func centeringOutputs(_ w: ParamData) -> ParamData {
        outputsLast ? w.centeringRows() : w.centeringColumns()
    }

    /// Whether every output is zero-mean for any input (within the zero-mean tolerance).
    func outputsAreZeroMean(_ w: ParamData) -> Bool {
        rowsAreZeroMean(outputsLast ? w : transpose(w))
    }

    /// The last output dropped.
    func droppingLastOutput(_ w: ParamData) -> ParamData {
        outputsLast ? w.droppingLastColumn() : w.droppingLastRow()
    }

    /// For an input [z, -sum(z)]: the weight that gives the same outputs from z alone.
    func absorbingLastInput(_ w: ParamData) -> ParamData {
        outputsLast ? w.subtractingLastRow() : w.subtractingLastColumn()
    }
}
