// `tfc bench --decode`: the time of one new token (one extend call of one position) with a
// cache already holding `context` positions, per variant and precision, interleaved in one run;
// the bytes the step must read (every weight once, and the cache's keys and values) and the
// share of this machine's measured read bandwidth that makes. In the same rounds, the prefill
// of those `context` positions into an empty cache (logits of the last only) beside the full
// forward of the same build at that length (logits of every position).
import Foundation
import TIR
import TIRCodegen
import TIRFormats
import TIRTransforms

public struct DecodeBenchOptions: Sendable {
    public var variants: [Variant] = Variant.allCases
    public var precisions: [Precision] = [.fp32]
    /// Positions in the cache before each timed token.
    public var contexts: [Int] = [128]
    public var runs = 20
    public var warmup = 2
    public var seed: UInt64 = 1
    /// Threads per call (0: one per online core).
    public var threads = 0
    /// Measure the read bandwidth on the same threads first.
    public var measureBandwidth = true
    public init() {}
}

public struct DecodeRow: Codable, Sendable {
    public var variant: String
    public var precision: String
    public var context: Int
    /// Milliseconds per new token: median, 10th and 90th percentiles.
    public var medianMs: Double
    public var p10Ms: Double
    public var p90Ms: Double
    /// Bytes one step must read from memory: every weight of a linear once, and the cache's
    /// keys and values of context + 1 positions.
    public var bytesPerToken: Double
    public var gbPerSecond: Double
    /// gbPerSecond over the measured read bandwidth (nil: not measured).
    public var ofBandwidth: Double?
    /// The median of pre-ln at the first precision and the same context over this one.
    public var speedup: Double
    /// Prefill of `context` positions into an empty cache, and the full forward at that length,
    /// median milliseconds (nil at context 0).
    public var prefillMs: Double?
    public var forwardMs: Double?
}

public struct DecodeReport: Codable, Sendable {
    public var model: String
    public var threads: Int
    public var runs: Int
    /// Read bandwidth measured on this machine with the same threads (PeakProbe), in GB/s.
    public var readGBps: Double?
    public var rows: [DecodeRow]

    public var text: String {
        var lines = ["\(model): decode, one new token after `context` cached positions; \(threads) thread\(threads == 1 ? "" : "s"), "
                     + "\(runs) tokens per configuration, interleaved"]
        if let readGBps {
            lines.append(String(format: "read bandwidth measured on %d thread%@: %.1f GB/s", threads, threads == 1 ? "" : "s", readGBps))
        }
        lines.append("  variant   precision  context  ms/token    p10 ms    p90 ms  MB/token     GB/s  of bandwidth  speedup  prefill ms  forward ms")
        for r in rows {
            let share = r.ofBandwidth.map { String(format: "%12.1f%%", $0 * 100) } ?? "            -"
            lines.append("  " + r.variant.padding(toLength: 9, withPad: " ", startingAt: 0) + " "
                         + r.precision.padding(toLength: 9, withPad: " ", startingAt: 0)
                         + String(format: " %8d %9.3f %9.3f %9.3f %9.1f %8.1f ", r.context, r.medianMs, r.p10Ms, r.p90Ms,
                                  r.bytesPerToken / 1e6, r.gbPerSecond)
                         + share + String(format: " %8.3f", r.speedup)
                         + (r.prefillMs.map { String(format: " %11.2f", $0) } ?? "           -")
                         + (r.forwardMs.map { String(format: " %11.2f", $0) } ?? "           -"))
        }
        lines.append("  (bytes: every linear's weights and biases as stored, plus each attention's cached keys and values;")
        lines.append("   prefill: the context into an empty cache, the last position's outputs; forward: the same build's")
        lines.append("   full forward at that length, every position's outputs)")
        return lines.joined(separator: "\n")
    }
}

/// Bytes a decode step reads at `context` cached positions: the weights and biases of every
/// linear (in their element type), and each attention's keys and values of context + 1
/// positions (float32).
public func decodeBytes(_ m: Module, context: Int) -> Double {
    var bytes = 0.0
    for inst in m.body {
        switch inst.op {
        case .linear:
            for operand in inst.operands.dropFirst() {
                guard case .param = operand, let t = m.type(of: operand) else { continue }
                bytes += Double(t.elementCount(seqLen: 1) * t.dtype.byteSize)
            }
        case .attention:
            let width = inst.type.dims.dropFirst().reduce(1) { $0 * ($1.fixedValue ?? 1) }
            bytes += Double(2 * (context + 1) * width * DType.f32.byteSize)
        default:
            continue
        }
    }
    return bytes
}

/// Compiles every configuration with its extend entry points, fills one cache per
/// (configuration, context), then times one new token on each in turns, cutting the cache back
/// to its context after each, so that every timed token sees the same context.
public func benchmarkDecode(_ original: LoadedModel, options: DecodeBenchOptions = DecodeBenchOptions(),
                            progress: Progress = .silent) throws -> DecodeReport {
    if let why = ExtendPlan.refusal(original.module) { throw DriverError("error: --decode: \(why)") }
    var sessions: [(variant: Variant, precision: Precision, context: Int, session: CacheSession, forward: PreparedCall?)] = []
    let prompt = fillRandomInputs(original, given: [:], seed: options.seed, seqLen: original.module.maxSeqLen)
    do {
        for precision in options.precisions {
            for variant in options.variants {
                progress.begin("compiling \(variant.rawValue) \(precision.rawValue)")
                let model = try rewrite(original, variant: variant, precision: precision).model
                let jit = try JITModel(model.module, weights: model.weights, threads: options.threads, extend: true)
                for context in options.contexts {
                    let session = try CacheSession(jit)
                    guard context >= 0, context < session.maxContext else {
                        throw DriverError("error: --context \(context): the cache holds 0...\(session.maxContext - 1) positions before a new one")
                    }
                    if context > 0 { _ = try session.extend(prompt.mapValues { $0.rows(0..<context) }) }
                    let forward = context > 0 ? try jit.prepare(inputs: prompt.mapValues { $0.rows(0..<context) }, seqLen: context) : nil
                    sessions.append((variant, precision, context, session, forward))
                }
            }
        }
    } catch let error as DriverError {
        throw error
    } catch {
        throw DriverError("error: \(error)")
    }
    let threads = min(options.threads > 0 ? options.threads : ProcessInfo.processInfo.activeProcessorCount, 64)
    if options.measureBandwidth { progress.begin("measuring the read bandwidth") }
    let bandwidth = options.measureBandwidth ? try PeakProbe.measureReadBandwidth(threads: threads) : nil

    progress.begin("timing \(options.warmup + options.runs) rounds")
    var times = [[Double]](repeating: [], count: sessions.count)
    var prefills = times, forwards = times
    do {
        for round in 0..<(options.warmup + options.runs) {
            for (i, s) in sessions.enumerated() {
                let at = (s.context + round) % prompt.values.first!.shape[0]
                let token = prompt.mapValues { $0.rows(at..<(at + 1)) }
                let ms = try milliseconds { _ = try s.session.extend(token) }
                try s.session.truncate(to: s.context)
                if round >= options.warmup { times[i].append(ms) }
                // The prefill refills the cache it empties: the next round's step sees the same.
                guard let forward = s.forward else { continue }
                try s.session.truncate(to: 0)
                let context = prompt.mapValues { $0.rows(0..<s.context) }
                let prefill = try milliseconds { _ = try s.session.extend(context) }
                let full = try milliseconds { try forward.invoke() }
                if round >= options.warmup {
                    prefills[i].append(prefill)
                    forwards[i].append(full)
                }
            }
        }
    } catch {
        throw DriverError("error: \(error)")
    }
    let medians = times.map { percentile($0.sorted(), 0.5) }
    let rows = sessions.indices.map { i -> DecodeRow in
        let s = sessions[i], sorted = times[i].sorted()
        let baseline = sessions.indices.first { sessions[$0].variant == .preLN && sessions[$0].context == s.context
            && sessions[$0].precision == options.precisions[0] }.map { medians[$0] } ?? medians[i]
        let model = s.session.model.model
        let bytes = decodeBytes(model, context: s.context)
        let rate = bytes / (medians[i] * 1e6)
        return DecodeRow(variant: s.variant.rawValue, precision: s.precision.rawValue, context: s.context, medianMs: medians[i],
                         p10Ms: percentile(sorted, 0.1), p90Ms: percentile(sorted, 0.9), bytesPerToken: bytes,
                         gbPerSecond: rate, ofBandwidth: bandwidth.map { rate / $0 }, speedup: baseline / medians[i],
                         prefillMs: prefills[i].isEmpty ? nil : percentile(prefills[i].sorted(), 0.5),
                         forwardMs: forwards[i].isEmpty ? nil : percentile(forwards[i].sorted(), 0.5))
    }
    return DecodeReport(model: original.path, threads: threads, runs: options.runs, readGBps: bandwidth, rows: rows)
}
