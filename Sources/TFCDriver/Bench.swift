// `tfc bench`: the variants of one model compiled and timed in the same run, interleaved.
import Foundation
import TIR
import TIRCodegen
import TIRTransforms

public struct BenchOptions: Sendable {
    public var variants: [Variant] = Variant.allCases
    public var seqLen: Int?
    /// Timed calls per variant (after `warmup` untimed ones).
    public var runs = 20
    public var warmup = 2
    public var seed: UInt64 = 1
    /// Threads per call (0: one per online core).
    public var threads = 0
    /// Measure the machine's FMA peak on the same threads first.
    public var measurePeak = true
    /// Each variant is timed at each of these precisions (bf16: `to-bf16` after its passes),
    /// all interleaved in one run.
    public var precisions: [Precision] = [.fp32]
    /// Also time each op of every configuration, in a separately compiled profiled build.
    public var profile = false
    public init() {}
}

/// Where one configuration's time goes: the median call's share per op kind (a profiled build,
/// CodegenOptions.profile), in milliseconds per call.
public struct BenchProfile: Codable, Sendable {
    public var variant: String
    public var precision: String
    /// Op kind (`linear`, `attention`, ...; `linear+` for linears whose epilogue computes an
    /// activation or residual add too) and its milliseconds per call, largest first.
    public var kinds: [Kind]
    public struct Kind: Codable, Sendable {
        public var op: String
        public var ops: Int
        public var ms: Double
    }
}

public struct BenchRow: Codable, Sendable {
    public var variant: String
    public var precision: String
    public var medianMs: Double
    /// 10th and 90th percentile of the call time.
    public var p10Ms: Double
    public var p90Ms: Double
    public var gflops: Double
    /// gflops as a fraction of the measured FMA peak on the same threads (nil: not measured).
    public var ofPeak: Double?
    /// The median of pre-ln at the first precision divided by this one (> 1: faster).
    public var speedup: Double
    /// Median time of the variant's norms alone, on the same shapes.
    public var normsMs: Double
}

public struct BenchReport: Codable, Sendable {
    public var model: String
    /// The sequence length of the calls; nil for a model without a sequence axis.
    public var seqLen: Int?
    public var threads: Int
    public var runs: Int
    /// The precisions of the matrix products each variant was timed at ("fp32", "bf16").
    public var precisions: [String]
    /// Multiply-add work per call, counted as 2 flops each (linears, patch embedding, attention).
    public var gflopPerCall: Double
    /// fp32 FMA throughput measured on this machine with the same number of threads, just before
    /// the timed calls (see PeakProbe): the ceiling for the GFLOP/s column.
    public var peakGflops: Double?
    /// With bf16 rows: the bf16 instruction this CPU's bf16 products use (`vdpbf16ps`; nil: none,
    /// they run on the float32 FMAs) and its throughput measured the same way: the ceiling for
    /// the bf16 rows' share of peak.
    public var bf16Instruction: String?
    public var bf16PeakGflops: Double?
    public var rows: [BenchRow]
    /// With --profile: each configuration's time per op kind.
    public var profiles: [BenchProfile]?

    public var text: String {
        let shape = seqLen.map { "sequence length \($0), " } ?? ""
        let precision = (precisions.count == 1 ? "precision " : "precisions ") + precisions.joined(separator: ", ")
        var lines = ["\(model): \(precision), \(shape)\(threads) thread\(threads == 1 ? "" : "s"), \(runs) calls per variant, interleaved; "
                     + String(format: "%.2f GFLOP per call", gflopPerCall)]
        if let peakGflops {
            lines.append(String(format: "fp32 FMA peak measured on %d thread%@: %.1f GFLOP/s", threads,
                                threads == 1 ? "" : "s", peakGflops))
        }
        lines.append("  variant   precision  median ms    p10 ms    p90 ms   GFLOP/s  of peak  speedup  norms ms")
        for r in rows {
            let ofPeak = r.ofPeak.map { String(format: "%7.1f%%", $0 * 100) } ?? "       -"
            lines.append("  " + r.variant.padding(toLength: 9, withPad: " ", startingAt: 0) + " "
                         + r.precision.padding(toLength: 9, withPad: " ", startingAt: 0)
                         + String(format: " %10.3f %9.3f %9.3f %9.1f ", r.medianMs, r.p10Ms, r.p90Ms, r.gflops)
                         + ofPeak + String(format: " %8.3f %9.3f", r.speedup, r.normsMs))
        }
        if peakGflops != nil && precisions.contains("bf16") {
            if let bf16PeakGflops, let bf16Instruction {
                lines.insert(String(format: "bf16 peak (%@) measured on %d thread%@: %.1f GFLOP/s", bf16Instruction, threads,
                                    threads == 1 ? "" : "s", bf16PeakGflops), at: 2)
                lines.append("  (of peak: fp32 rows against the fp32 FMA peak, bf16 rows against the bf16 peak)")
            } else {
                lines.append("  (of peak: against the fp32 FMA peak for every precision: this CPU has no bf16 instruction tfc uses")
                lines.append("   (AVX512_BF16), so its bf16 products run on the float32 FMAs)")
            }
        }
        for profile in profiles ?? [] {
            let total = profile.kinds.map(\.ms).reduce(0, +)
            lines.append("profile of \(profile.variant) \(profile.precision) (ms per call in each op kind, a profiled build):")
            for kind in profile.kinds {
                lines.append("  " + kind.op.padding(toLength: 14, withPad: " ", startingAt: 0)
                             + String(format: "%4d ops %10.3f ms %6.1f%%", kind.ops, kind.ms, total > 0 ? 100 * kind.ms / total : 0))
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Matrix-multiply work of one call at `seqLen`, in flops (2 per multiply-add).
public func matmulFlops(_ m: Module, seqLen: Int) -> Double {
    var flops = 0.0
    for inst in m.body {
        let rows = Double(inst.type.dims.first?.size(seqLen: seqLen) ?? 1)
        let cols = Double(inst.type.dims.last?.fixedValue ?? 1)
        switch inst.op {
        case .linear, .patchEmbed:
            guard let w = m.type(of: inst.operands[1])?.staticShape else { continue }
            flops += 2 * rows * Double(w[0] * w[1])
        case .attention:
            // Scores and the weighted sum: 2 * rows * visible keys * width, twice.
            let visible = inst.bool("causal") == true ? (rows + 1) / 2 : rows
            flops += 4 * rows * visible * cols
        default:
            continue
        }
    }
    return flops
}

/// A module that runs only the norms of `m`, each on an input of its own shape: their cost
/// measured with the same code generator, apart from everything else.
func normsOnly(_ m: Module) -> Module? {
    let norms = m.body.filter { [.layernorm, .rmsnorm, .crmsnorm].contains($0.op) }
    guard !norms.isEmpty else { return nil }
    var out = Module(name: m.name + "_norms", seq: m.seq, weights: m.weights)
    out.params = m.params
    for (i, n) in norms.enumerated() {
        out.inputs.append(Input(name: "x\(i)", type: n.type))
        var inst = n
        inst.result = "y\(i)"
        inst.operands[0] = .value("x\(i)")
        out.body.append(inst)
        out.outputs.append(OutputRef(name: inst.result))
    }
    return out
}

/// The time `body` takes, in milliseconds (every benchmark's clock).
func milliseconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
}

/// The nearest-rank percentile `p` of ascending `sorted` (NaN when empty).
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

/// Compiles every variant, then times them in turns (one call of each per round), so that
/// the machine's noise falls on all of them alike.
public func benchmark(_ original: LoadedModel, options: BenchOptions = BenchOptions(),
                      progress: Progress = .silent) throws -> BenchReport {
    let seq = options.seqLen ?? original.module.maxSeqLen
    if original.module.seq == nil, let asked = options.seqLen {
        throw DriverError("error: --seq \(asked): @\(original.module.name) has no sequence axis")
    }
    if let decl = original.module.seq, seq < 1 || seq > decl.max {
        throw DriverError("error: --seq \(seq) is outside 1...\(decl.max)")
    }
    let inputs = fillRandomInputs(original, given: [:], seed: options.seed, seqLen: seq)
    var calls: [(Variant, Precision, PreparedCall, PreparedCall?)] = []
    var models: [LoadedModel] = []
    for precision in options.precisions {
        for variant in options.variants {
            progress.begin("compiling \(variant.rawValue) \(precision.rawValue)")
            let model = try rewrite(original, variant: variant, precision: precision).model
            do {
                let call = try JITModel(model.module, weights: model.weights, threads: options.threads)
                    .prepare(inputs: inputs, seqLen: seq)
                var normCall: PreparedCall?
                if let norms = normsOnly(model.module) {
                    let normInputs = fillRandomInputs(LoadedModel(path: "", source: "", module: norms, weights: model.weights),
                                                      given: [:], seed: options.seed, seqLen: seq)
                    normCall = try JITModel(norms, weights: model.weights, threads: options.threads)
                        .prepare(inputs: normInputs, seqLen: seq)
                }
                calls.append((variant, precision, call, normCall))
                models.append(model)
            } catch {
                throw DriverError("error: \(error)")
            }
        }
    }
    let threads = min(options.threads > 0 ? options.threads : ProcessInfo.processInfo.activeProcessorCount, 64)
    if options.measurePeak { progress.begin("measuring the FMA peak") }
    let peak = options.measurePeak ? try PeakProbe.measure(threads: threads) : nil
    let bf16 = options.precisions.contains(.bf16)
    let bf16Peak = options.measurePeak && bf16 ? try PeakProbe.measureBF16(threads: threads) : nil
    progress.begin("timing \(options.warmup + options.runs) rounds")
    var times = [[Double]](repeating: [], count: calls.count)
    var normTimes = [[Double]](repeating: [], count: calls.count)
    do {
        for round in 0..<(options.warmup + options.runs) {
            for (i, (_, _, call, normCall)) in calls.enumerated() {
                let t = try milliseconds { try call.invoke() }
                let n = try normCall.map { c in try milliseconds { try c.invoke() } } ?? 0
                if round >= options.warmup {
                    times[i].append(t)
                    normTimes[i].append(n)
                }
            }
        }
    } catch {
        throw DriverError("error: \(error)")
    }
    let flops = matmulFlops(original.module, seqLen: seq)
    let medians = times.map { percentile($0.sorted(), 0.5) }
    let baseline = zip(calls, medians).first { $0.0.0 == .preLN }?.1 ?? medians[0]
    let rows = calls.indices.map { i -> BenchRow in
        let sorted = times[i].sorted()
        return BenchRow(variant: calls[i].0.rawValue, precision: calls[i].1.rawValue, medianMs: medians[i], p10Ms: percentile(sorted, 0.1),
                        p90Ms: percentile(sorted, 0.9), gflops: flops / (medians[i] * 1e6),
                        ofPeak: (calls[i].1 == .bf16 ? bf16Peak ?? peak : peak).map { flops / (medians[i] * 1e6) / $0 }, speedup: baseline / medians[i], normsMs: percentile(normTimes[i].sorted(), 0.5))
    }
    var profiles: [BenchProfile]?
    if options.profile {
        profiles = try zip(calls, models).map { call, model in
            progress.begin("profiling \(call.0.rawValue) \(call.1.rawValue)")
            return try profileOps(model, inputs: inputs, seqLen: seq, options: options, variant: call.0, precision: call.1)
        }
    }
    return BenchReport(model: original.path, seqLen: original.module.seq == nil ? nil : seq, threads: threads, runs: options.runs,
                       precisions: options.precisions.map(\.rawValue), gflopPerCall: flops / 1e9, peakGflops: peak,
                       bf16Instruction: bf16 ? PeakProbe.bf16Instruction() : nil, bf16PeakGflops: bf16Peak, rows: rows,
                       profiles: profiles)
}

/// One configuration's time per op kind: a profiled build called warmup + runs times, the
/// timed calls' total divided by runs.
private func profileOps(_ model: LoadedModel, inputs: [String: HostTensor], seqLen: Int, options: BenchOptions,
                        variant: Variant, precision: Precision) throws -> BenchProfile {
    do {
        let jit = try JITModel(model.module, weights: model.weights, threads: options.threads, profile: true)
        let call = try jit.prepare(inputs: inputs, seqLen: seqLen)
        for _ in 0..<options.warmup { try call.invoke() }
        jit.resetProfile()
        for _ in 0..<options.runs { try call.invoke() }
        // Ops without a function of their own are computed in a GEMM's epilogue; a linear read by
        // one of them is named apart.
        let own = Set(jit.profiledOps.map(\.result))
        let readByEpilogues = Set(model.module.body.filter { !own.contains($0.result) }.flatMap { inst in
            inst.operands.compactMap { operand -> String? in
                if case .value(let v) = operand { return v }
                return nil
            }
        })
        var byKind: [String: (ops: Int, ns: Int64)] = [:]
        for (op, ns) in jit.opTimes {
            let kind = op.op.rawValue + (op.op == .linear && readByEpilogues.contains(op.result) ? "+" : "")
            byKind[kind, default: (0, 0)].ops += 1
            byKind[kind, default: (0, 0)].ns += ns
        }
        let kinds = byKind.map { BenchProfile.Kind(op: $0.key, ops: $0.value.ops, ms: Double($0.value.ns) / 1e6 / Double(options.runs)) }
            .sorted { $0.ms > $1.ms }
        return BenchProfile(variant: variant.rawValue, precision: precision.rawValue, kinds: kinds)
    } catch {
        throw DriverError("error: \(error)")
    }
}
