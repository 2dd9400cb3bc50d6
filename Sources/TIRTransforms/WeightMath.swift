// Float64 weight arithmetic shared by the passes: centering, slicing and differences of rows
// and columns of row-major parameters.

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
