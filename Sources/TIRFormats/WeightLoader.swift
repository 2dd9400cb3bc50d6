// Resolves every parameter of a module to a host tensor: from its safetensors file or from seeded random values.

import Foundation
import TIR

/// Parameters larger than this many elements are refused before anything is allocated
/// (4 GiB of f32), so a typo in a `.tir` shape cannot exhaust memory.
public let maxParamElements = 1 << 30

/// The most parameter memory one model may declare, all parameters together (16 GiB: well above
/// the largest supported model, 1.5 B float32 parameters = 6 GB). Checked before anything is
/// read or generated.
public let maxParameterBytes = 16 << 30

/// The value of every parameter of `module`, each shaped as its static type and stored as its
/// dtype: f32, or bf16 (raw bits). A bf16 parameter gets the same values an f32 one would,
/// rounded to nearest-even bf16 once: a file's BF16 tensor bit for bit, an F32/F16/F64 one
/// rounded from its stored value, random values from the same stream rounded from Double.
///
/// - `zeros`, `ones`, `normal`, `uniform`: generated; random ones use the seed of the
///   module's `weights random(seed = s, ...)`, or seed 0 when its weights come from a file.
/// - `default`: the weights file's tensor of the same name, or normal(0, std) of `random(...)`.
/// - `tensor("t")`: the weights file's tensor `t` (an error without a weights file).
/// - `tensor("t", rows = blocks(start, size, stride))`: blocks of rows of `t`'s first axis
///   (block j: rows start + j*stride ..< start + j*stride + size), checked to lie inside `t`.
///
/// The weights file is resolved relative to the folder of `tirPath`. Errors are located in
/// the `.tir` file (`file` = `tirPath`): at the parameter, or at the `weights` line for
/// problems with the file as a whole.
public func loadWeights(for module: Module, tirPath: String) throws(Diagnostic) -> Weights {
    var loader = WeightLoader(module: module, tirPath: tirPath)
    return try loader.load()
}

/// Checks what `loadWeights` checks (the file, every tensor a parameter reads, every
/// initializer's arguments, the total size) without generating seeded values.
public func checkWeights(for module: Module, tirPath: String) throws(Diagnostic) {
    var loader = WeightLoader(module: module, tirPath: tirPath)
    try loader.check()
}

/// Where `weights "file"` points: `file` itself when absolute, else next to the `.tir` file.
public func resolveWeightsPath(_ file: String, tirPath: String) -> String {
    if file.hasPrefix("/") { return file }
    guard let slash = tirPath.lastIndex(of: "/") else { return file }
    return String(tirPath[...slash]) + file
}

private struct WeightLoader {
    let module: Module
    let tirPath: String
    /// The weights file as the `.tir` names it, and its validated contents.
    var file: (name: String, contents: SafetensorsCheckpoint)?

    init(module: Module, tirPath: String) {
        self.module = module
        self.tirPath = tirPath
    }

    /// The seed of `random(...)`, or 0 for a model whose weights come from a file.
    var seed: UInt64 {
        if case .random(let seed, _) = module.weights { return seed }
        return 0
    }

    mutating func load() throws(Diagnostic) -> Weights {
        try checkTotalSize()
        if case .file(let name) = module.weights {
            file = (name, try openWeightsFile(name))
        }
        var weights = Weights()
        for param in module.params {
            weights[param.name] = try value(of: param)
        }
        return weights
    }

    /// Everything `load` checks, without generating seeded values: a file's tensors are read
    /// and checked, an initializer is checked from its arguments alone.
    mutating func check() throws(Diagnostic) {
        try checkTotalSize()
        if case .file(let name) = module.weights {
            file = (name, try openWeightsFile(name))
        }
        for param in module.params {
            _ = try value(of: param, generate: false)
        }
    }

    /// All parameters together fit in maxParameterBytes (each one's own size is checked by `value`).
    private func checkTotalSize() throws(Diagnostic) {
        var total = 0
        for param in module.params {
            guard let shape = param.type.staticShape else { continue }
            var elements = 1
            for d in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: max(d, 0))
                elements = overflow ? Int.max : product
            }
            // A parameter too large on its own gets its own message, from `value`.
            guard elements <= maxParamElements else { continue }
            let bytes = elements * param.type.dtype.byteSize
            let (sum, overflow) = total.addingReportingOverflow(bytes)
            total = overflow ? Int.max : sum
            if total > maxParameterBytes {
                throw fail(param, "the parameters up to this one take more than \(maxParameterBytes >> 30) GiB, the most a model may declare")
            }
        }
    }

    private func openWeightsFile(_ name: String) throws(Diagnostic) -> SafetensorsCheckpoint {
        let path = resolveWeightsPath(name, tirPath: tirPath)
        guard FileManager.default.fileExists(atPath: path) else {
            throw Diagnostic(file: tirPath, loc: module.weightsLoc, "weights file '\(name)' not found")
        }
        do {
            return try SafetensorsCheckpoint(path: path)
        } catch {
            // Keep the reader's text; point at the line that named the file.
            throw Diagnostic(file: tirPath, loc: module.weightsLoc, "'\(name)': \(error.message)")
        }
    }

    private func fail(_ param: Param, _ message: String) -> Diagnostic {
        Diagnostic(file: tirPath, loc: param.loc, "parameter @\(param.name): \(message)")
    }

    /// The parameter's value; with `generate` false, a seeded one is only checked (an empty tensor
    /// stands for it).
    private func value(of param: Param, generate: Bool = true) throws(Diagnostic) -> HostTensor {
        guard let shape = param.type.staticShape else { throw fail(param, "a parameter's shape must be static") }
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard d >= 0, !overflow, product <= maxParamElements else {
                throw fail(param, "shape \(shape) is too large (at most \(maxParamElements) elements)")
            }
            count = product
        }
        let unchecked = HostTensor(shape: [0], f32: [])
        switch param.initializer {
        case .zeros:
            return generate ? filled(param, shape: shape, count: count, with: 0) : unchecked
        case .ones:
            return generate ? filled(param, shape: shape, count: count, with: 1) : unchecked
        case .normal(let mean, let std):
            try requireRandomizable(param, normalMean: mean, std: std)
            guard generate else { return unchecked }
            var random = ParamRandom(seed: seed, name: param.name)
            return rounded(param, shape: shape, random.normalValues(count, mean: mean, std: std))
        case .uniform(let low, let high):
            try requireRandomizable(param, low: low, high: high)
            guard generate else { return unchecked }
            var random = ParamRandom(seed: seed, name: param.name)
            return rounded(param, shape: shape, random.uniformValues(count, low: low, high: high))
        case .default:
            switch module.weights {
            case .file: return try fromFile(param, tensor: param.name, shape: shape, reshape: false)
            case .random(_, let std):
                try requireRandomizable(param, normalMean: 0, std: std)
                guard generate else { return unchecked }
                var random = ParamRandom(seed: seed, name: param.name)
                return rounded(param, shape: shape, random.normalValues(count, mean: 0, std: std))
            }
        case .tensor(let name):
            // Naming the tensor explicitly also allows a row-major reshape (same elements in the
            // same order): checkpoints store e.g. a class token as [1, 1, d] or a Conv2d weight as
            // [d, C, p, p] where TIR wants [1, d] or [d, C*p*p].
            return try fromFile(param, tensor: name, shape: shape, reshape: true)
        case .tensorRows(let name, let rows):
            return try fromFile(param, tensor: name, shape: shape, rows: rows)
        }
    }

    /// `count` copies of `value`, stored as the parameter's dtype (both 0 and 1 are exact in each).
    private func filled(_ param: Param, shape: [Int], count: Int, with value: Int) -> HostTensor {
        switch param.type.dtype {
        case .f32: return HostTensor(shape: shape, f32: Array(repeating: Float(value), count: count))
        case .bf16: return HostTensor(shape: shape, bf16: Array(repeating: bf16Bits(Float(value)), count: count))
        case .i32: return HostTensor(shape: shape, i32: Array(repeating: Int32(value), count: count))
        }
    }

    /// Samples computed in Double, rounded once to the parameter's float type.
    private func rounded(_ param: Param, shape: [Int], _ values: [Double]) -> HostTensor {
        param.type.dtype == .bf16 ? HostTensor(shape: shape, bf16: values.map { bf16Bits($0) })
            : HostTensor(shape: shape, f32: values.map { Float($0) })
    }

    /// Random values are f32 or bf16 only, and come from finite distribution parameters.
    private func requireFloat(_ param: Param, _ a: Double, _ b: Double) throws(Diagnostic) {
        guard param.type.dtype.isFloat else {
            throw fail(param, "random values need an f32 or bf16 parameter, not \(param.type.dtype.rawValue)")
        }
        guard a.isFinite, b.isFinite else { throw fail(param, "random distribution parameters must be finite") }
    }

    /// The largest finite value of the parameter's float type.
    private func largestFinite(_ param: Param) -> Double {
        param.type.dtype == .bf16 ? Double(floatFromBF16(0x7F7F)) : Double(Float.greatestFiniteMagnitude)
    }

    /// normal(mean, std) must keep every sample finite in the parameter's type. Box-Muller's
    /// samples are at most sqrt(-2 ln 2^-53) < 8.6 standard deviations from the mean, so
    /// |mean| + 8.6 std within the type's range is exactly the guarantee needed, decided from the
    /// arguments alone (no value is generated to find out).
    private func requireRandomizable(_ param: Param, normalMean mean: Double, std: Double) throws(Diagnostic) {
        try requireFloat(param, mean, std)
        guard abs(mean) + 8.6 * abs(std) <= largestFinite(param) else {
            throw fail(param, "normal(\(formatDouble(mean)), \(formatDouble(std))) gives values past the largest finite \(param.type.dtype.rawValue) (\(formatDouble(largestFinite(param)))): |mean| + 8.6 std must stay within it")
        }
    }

    /// uniform(low, high) must have both bounds within the parameter's type (and so every sample).
    private func requireRandomizable(_ param: Param, low: Double, high: Double) throws(Diagnostic) {
        try requireFloat(param, low, high)
        guard max(abs(low), abs(high)) <= largestFinite(param) else {
            throw fail(param, "uniform(\(formatDouble(low)), \(formatDouble(high))) has a bound past the largest finite \(param.type.dtype.rawValue) (\(formatDouble(largestFinite(param))))")
        }
    }

    private func fromFile(_ param: Param, tensor name: String, shape: [Int], reshape: Bool = false,
                          rows: RowBlocks? = nil) throws(Diagnostic) -> HostTensor {
        guard let file else {
            throw fail(param, "tensor '\(name)' needs a weights file, but the model's weights are random")
        }
        let (fileName, contents) = file
        guard let entry = contents.entry(named: name) else {
            throw fail(param, "no tensor '\(name)' in '\(fileName)'")
        }
        let wantFloat = param.type.dtype.isFloat
        guard entry.dtype.isFloat == wantFloat else {
            let expected = wantFloat ? "a float" : "an integer"
            throw fail(param, "tensor '\(name)' has dtype \(entry.dtype.rawValue), expected \(expected) type")
        }
        if let rows {
            try checkRows(param, rows, tensor: name, stored: entry.shape, in: fileName, shape: shape)
        } else if !(entry.shape == shape || (reshape && entry.elementCount == shape.reduce(1, *))) {
            throw fail(param, "tensor '\(name)' has shape \(entry.shape) in '\(fileName)', expected \(shape)")
        }
        var tensor: HostTensor
        do {
            tensor = try contents.tensor(entry, floats: wantFloat ? param.type.dtype : .f32)
        } catch {
            throw fail(param, "'\(fileName)': \(error.message)")
        }
        if let rows, !shape.isEmpty {
            tensor = Self.select(rows, from: tensor, blocks: shape[0] / rows.size)
        }
        tensor.shape = shape
        // A finite F32 or F64 value past the largest bfloat16 rounds to infinity: refused too.
        let values = tensor.dtype.isFloat ? tensor.floats : []
        if let i = values.firstIndex(where: { !$0.isFinite }) {
            let coordinates = Self.coordinates(of: i, in: shape).map(String.init).joined(separator: ", ")
            throw fail(param, "tensor '\(name)' in '\(fileName)' has a non-finite value (\(values[i]))\(param.type.dtype == .bf16 ? " as bf16" : "") at [\(coordinates)]")
        }
        return tensor
    }

    /// A row selection reads whole blocks inside the stored tensor: the same rank, the same
    /// trailing axes, a first axis made of blocks, and every block's rows present.
    private func checkRows(_ param: Param, _ rows: RowBlocks, tensor name: String, stored: [Int], in fileName: String,
                           shape: [Int]) throws(Diagnostic) {
        let spec = "rows = blocks(start = \(rows.start), size = \(rows.size), stride = \(rows.stride))"
        guard let first = shape.first, rows.start >= 0, rows.size > 0, rows.stride > 0, first % rows.size == 0 else {
            throw fail(param, "\(spec) needs start >= 0, size > 0, stride > 0 and a first axis made of blocks of size rows, got shape \(shape)")
        }
        guard stored.count == shape.count, Array(stored.dropFirst()) == Array(shape.dropFirst()) else {
            throw fail(param, "tensor '\(name)' has shape \(stored) in '\(fileName)'; \(spec) needs [rows\(shape.dropFirst().map { ", \($0)" }.joined())]")
        }
        guard first > 0 else { return }
        // The last block ends furthest; computed without overflow.
        let (span, overflow) = (first / rows.size - 1).multipliedReportingOverflow(by: rows.stride)
        guard !overflow, rows.start <= stored[0], rows.size <= stored[0] - rows.start,
              span <= stored[0] - rows.start - rows.size else {
            let (from, o1) = span.addingReportingOverflow(rows.start)
            let (lastRow, o2) = from.addingReportingOverflow(rows.size - 1)
            let reach = overflow || o1 || o2 ? "past \(Int.max)" : "\(lastRow)"
            throw fail(param, "\(spec) reads rows up to \(reach) (block \(first / rows.size - 1)),"
                       + " but tensor '\(name)' has \(stored[0]) rows in '\(fileName)'")
        }
    }

    /// Blocks 0..<blocks of `rows` from `tensor`'s first axis, one after another.
    private static func select(_ rows: RowBlocks, from tensor: HostTensor, blocks: Int) -> HostTensor {
        let parts = (0..<blocks).map { tensor.rows(rows.rows(ofBlock: $0)) }
        let shape = [blocks * rows.size] + tensor.shape.dropFirst()
        switch tensor.storage {
        case .f32: return HostTensor(shape: shape, f32: parts.flatMap { $0.floats })
        case .bf16: return HostTensor(shape: shape, bf16: parts.flatMap { part -> [UInt16] in
            if case .bf16(let bits) = part.storage { return bits }
            return []
        })
        case .i32: return HostTensor(shape: shape, i32: parts.flatMap { part -> [Int32] in
            if case .i32(let v) = part.storage { return v }
            return []
        })
        }
    }

    /// The row-major coordinates of flat index `i`.
    private static func coordinates(of i: Int, in shape: [Int]) -> [Int] {
        var rest = i
        var result = Array(repeating: 0, count: shape.count)
        for axis in shape.indices.reversed() where shape[axis] > 0 {
            result[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return result
    }
}
