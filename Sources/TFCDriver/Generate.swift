// `tfc generate`: a prompt (text through the model's tokenizer, or token ids) in, new tokens out,
// one at a time through the model's extend entry points and its key/value cache: the prompt in
// one call (prefill), then one call per new token (decode). Greedy by default; sampling with a
// temperature, top-k and top-p from a seeded generator (the same seed gives the same tokens).
// Text is streamed as it is made, a character split across tokens once it is whole, and held
// back while it could still be the start of a stop string.
import Foundation
import TFCTokenizer
import TIR
import TIRCodegen
import TIRFormats

/// How the next token is chosen from a row of logits.
public struct SamplingOptions: Sendable, Equatable {
    /// 0: greedy (the largest logit; the first of equal ones). Above 0: sample from
    /// softmax(logits / temperature).
    public var temperature = 0.0
    /// Sample among the k largest logits only (0: all).
    public var topK = 0
    /// Then among the fewest tokens whose probabilities add up to at least p (1: all).
    public var topP = 1.0
    public var seed: UInt64 = 0

    public init(temperature: Double = 0, topK: Int = 0, topP: Double = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }
}

/// Chooses tokens from logits, greedily or by sampling from a seeded generator.
public struct Sampler: Sendable {
    public let options: SamplingOptions
    private var random: Xoshiro256StarStar

    public init(_ options: SamplingOptions) {
        self.options = options
        random = Xoshiro256StarStar(seed: options.seed)
    }

    /// The index of the largest logit (the first of equal ones), and its lead over the second.
    public static func argmax(_ logits: [Float]) -> (index: Int, margin: Float) {
        var best = 0, second = -Float.infinity
        for i in 1..<logits.count {
            if logits[i] > logits[best] {
                second = logits[best]
                best = i
            } else if logits[i] > second {
                second = logits[i]
            }
        }
        return (best, logits[best] - second)
    }

    public mutating func next(_ logits: [Float]) -> Int32 {
        guard options.temperature > 0 else { return Int32(Self.argmax(logits).index) }
        // The candidates in order of decreasing logit (ties by index), the top k of them.
        var order = logits.indices.sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
        if options.topK > 0 && options.topK < order.count { order.removeLast(order.count - options.topK) }
        let top = Double(logits[order[0]])
        var weights = order.map { exp((Double(logits[$0]) - top) / options.temperature) }
        let total = weights.reduce(0, +)
        // Nucleus: the shortest prefix whose probability reaches top-p.
        if options.topP < 1 {
            var sum = 0.0, keep = 0
            while keep < weights.count {
                sum += weights[keep] / total
                keep += 1
                if sum >= options.topP { break }
            }
            order.removeLast(order.count - keep)
            weights.removeLast(weights.count - keep)
        }
        let u = Double(random.next() >> 11) * 0x1p-53 * weights.reduce(0, +)
        var sum = 0.0
        for (token, weight) in zip(order, weights) {
            sum += weight
            if u < sum { return Int32(token) }
        }
        return Int32(order[order.count - 1])
    }
}

/// What `tfc generate` does besides the prompt.
public struct GenerationOptions: Sendable {
    public var maxNewTokens = 32
    public var sampling = SamplingOptions()
    /// Stop before any of these would be printed.
    public var stop: [String] = []
    /// Go on past the end-of-text token.
    public var ignoreEOS = false
    /// Threads per call (0: one per online core).
    public var threads = 0

    public init() {}
}

/// Why generation ended.
public enum StopReason: String, Sendable {
    case maxTokens = "--max-new-tokens reached"
    case endOfText = "end of text"
    case stopString = "a stop string"
    case contextFull = "the context is full"
}

/// A finished generation: the tokens, and the times of the prefill and of each decode step.
public struct Generation: Sendable {
    public var prompt: [Int32]
    public var tokens: [Int32] = []
    public var text: String?
    public var stop = StopReason.maxTokens
    public var prefillSeconds = 0.0
    public var decodeSeconds = 0.0
    public var decodeSteps = 0
    /// Greedy steps whose two largest logits were closer than `nearTie` (float32 noise could
    /// pick either): their indices among the new tokens.
    public var nearTies: [Int] = []
    public static let nearTie: Float = 1e-4
}

/// The tokenizer of `model`: `path` (a folder or a tokenizer.json; relative to the working
/// directory) if given, else the folder the .tir names (relative to its own folder), else nil.
public func loadTokenizer(for model: LoadedModel, path: String? = nil) throws -> (BPETokenizer, folder: String)? {
    let resolved: String
    if let path {
        resolved = path
    } else if let named = model.module.tokenizer {
        resolved = named.hasPrefix("/") ? named
            : URL(fileURLWithPath: model.path).deletingLastPathComponent().appendingPathComponent(named).path
    } else {
        return nil
    }
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isFolder) else {
        throw DriverError("error: tokenizer \(resolved): no such file or folder")
    }
    do {
        if isFolder.boolValue { return (try BPETokenizer(directory: resolved), resolved) }
        return (try BPETokenizer(tokenizerJSONFile: resolved), (resolved as NSString).deletingLastPathComponent)
    } catch {
        throw DriverError("error: \(error)")
    }
}

/// The end-of-text id: `eos_token_id` of generation_config.json or config.json in the
/// tokenizer's folder (the first, where it is a list), else the tokenizer's `<|endoftext|>`.
public func endOfTextID(folder: String, tokenizer: BPETokenizer) -> Int32? {
    for file in ["generation_config.json", "config.json"] {
        guard let data = FileManager.default.contents(atPath: (folder as NSString).appendingPathComponent(file)),
              case .object(let object)? = try? JSONValue.parse([UInt8](data)), let value = object["eos_token_id"] else { continue }
        if let id = value.intValue { return Int32(clamping: id) }
        if let first = value.arrayValue?.first?.intValue { return Int32(clamping: first) }
    }
    return tokenizer.endOfTextID
}

/// Text streamed as tokens come: complete characters only, and never the start of a stop string
/// until it is known not to become one.
struct TextStream {
    var decoder: StreamingDecoder
    let stops: [String]
    /// Decoded but not yet written: the tail that could still begin a stop string.
    var pending = ""
    var written = ""

    /// Adds a token; returns the text that may be written now, and whether a stop string was
    /// found (then the text ends right before it).
    mutating func add(_ id: Int32) throws -> (text: String, stopped: Bool) {
        pending += try decoder.append(id)
        return release(final: false)
    }

    /// The rest, at the end.
    mutating func finish() -> (text: String, stopped: Bool) {
        pending += decoder.finish()
        return release(final: true)
    }

    private mutating func release(final: Bool) -> (text: String, stopped: Bool) {
        if let cut = stops.compactMap({ pending.range(of: $0)?.lowerBound }).min() {
            let text = String(pending[..<cut])
            written += text
            pending = ""
            return (text, true)
        }
        var keep = 0
        if !final {
            // The longest tail of the pending text that some stop string starts with.
            for stop in stops {
                for length in stride(from: min(stop.count - 1, pending.count), to: keep, by: -1)
                where pending.hasSuffix(stop.prefix(length)) {
                    keep = length
                    break
                }
            }
        }
        let text = String(pending.dropLast(keep))
        pending = String(pending.suffix(keep))
        written += text
        return (text, false)
    }
}

/// Runs the generation loop on `session`: prefill `prompt`, then one token at a time. `emit`
/// receives each piece of output as it is made (text with a tokenizer, else ids).
public func generate(_ session: CacheSession, prompt: [Int32], options: GenerationOptions,
                     tokenizer: BPETokenizer?, endOfText: Int32?, emit: (String) -> Void) throws -> Generation {
    var result = Generation(prompt: prompt)
    guard !prompt.isEmpty else { throw DriverError("error: the prompt is empty: give at least one token") }
    guard prompt.count < session.maxContext else {
        throw DriverError("error: the prompt has \(prompt.count) tokens; the model holds \(session.maxContext) positions, and at least one must be left for a new token")
    }
    var sampler = Sampler(options.sampling)
    var stream = tokenizer.map { TextStream(decoder: $0.makeStreamingDecoder(), stops: options.stop) }
    let clock = ContinuousClock()
    func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }

    var logits: [Float] = []
    let start = clock.now
    for chunk in stride(from: 0, to: prompt.count, by: session.maxNewPositions) {
        logits = try session.extend(tokens: Array(prompt[chunk..<min(prompt.count, chunk + session.maxNewPositions)]))
    }
    result.prefillSeconds = seconds(clock.now - start)
    while result.tokens.count < options.maxNewTokens {
        let next: Int32
        if options.sampling.temperature == 0 {
            let (best, margin) = Sampler.argmax(logits)
            if margin < Generation.nearTie { result.nearTies.append(result.tokens.count) }
            next = Int32(best)
        } else {
            next = sampler.next(logits)
        }
        if let endOfText, next == endOfText, !options.ignoreEOS {
            result.stop = .endOfText
            break
        }
        result.tokens.append(next)
        if stream != nil {
            let (text, stopped) = try stream!.add(next)
            emit(text)
            if stopped {
                result.stop = .stopString
                break
            }
        } else {
            emit((result.tokens.count > 1 ? " " : "") + String(next))
        }
        if result.tokens.count == options.maxNewTokens { break }
        if session.length == session.maxContext {
            result.stop = .contextFull
            break
        }
        let step = clock.now
        logits = try session.extend(tokens: [next])
        result.decodeSeconds += seconds(clock.now - step)
        result.decodeSteps += 1
    }
    if stream != nil {
        if result.stop != .stopString {
            let (text, stopped) = stream!.finish()
            emit(text)
            if stopped { result.stop = .stopString }
        }
        result.text = stream!.written
    }
    return result
}

extension Commands {
    /// `tfc generate`: the prompt (`promptText` through the tokenizer, or `tokens`), then up to
    /// `options.maxNewTokens` new tokens streamed to the output (text with a tokenizer, else ids),
    /// ending with a newline; a closing line on the error stream with the counts and times.
    public static func generate(model path: String, variant: ModelVariant, precision: Precision = .fp32, remarks: Bool,
                                prompt promptText: String?, tokens: String?, tokenizer tokenizerPath: String?,
                                options: GenerationOptions, console: Console = .standard) throws {
        guard (promptText == nil) != (tokens == nil) else { throw DriverError("error: give one of --prompt and --tokens") }
        let loaded = try loadModel(path, variant: variant, precision: precision, remarks: remarks, console: console)
        if let why = ExtendPlan.refusal(loaded.module) { throw DriverError("error: \(path): cannot generate: \(why)") }
        let found = try loadTokenizer(for: loaded, path: tokenizerPath)
        let prompt: [Int32]
        if let promptText {
            guard let (tokenizer, _) = found else {
                throw DriverError("error: \(path) names no tokenizer ('tokenizer \"folder\"'): give --tokenizer FOLDER, or --tokens")
            }
            prompt = tokenizer.encode(promptText)
        } else {
            prompt = try parseTokenList(tokens ?? "")
        }
        let vocabulary = loaded.module.inputs.first.flatMap { loaded.module.vocabulary(of: $0.name) }
        if let vocabulary, let bad = prompt.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw DriverError("error: the prompt's token \(bad) is outside the model's vocabulary (0..<\(vocabulary))"
                              + (promptText != nil ? ": the tokenizer does not belong to this model" : ""))
        }
        console.progress.begin("compiling (JIT)")
        let model = try JITModel(loaded.module, weights: loaded.weights, threads: options.threads, extend: true)
        let session = try CacheSession(model)
        console.progress.finish()
        let endOfText = found.flatMap { endOfTextID(folder: $0.folder, tokenizer: $0.0) }
        let result = try TFCDriver.generate(session, prompt: prompt, options: options, tokenizer: found?.0, endOfText: endOfText) {
            console.write($0)
            console.flush()
        }
        console.write("\n")
        console.flush()
        console.error(generationSummary(result))
    }

    /// Comma-separated token ids.
    static func parseTokenList(_ text: String) throws -> [Int32] {
        try text.split(separator: ",", omittingEmptySubsequences: false).map { item in
            guard let id = Int32(item.trimmingCharacters(in: .whitespaces)) else {
                throw DriverError("error: --tokens \(text): '\(item)' is not a token id")
            }
            return id
        }
    }
}

/// `prompt 5 tokens, 20 new (stopped: end of text); prefill 12.3 ms (2.46 ms/token); decode 3.10 ms/token`.
public func generationSummary(_ g: Generation) -> String {
    let prefill = g.prefillSeconds * 1e3
    var line = "prompt \(g.prompt.count) tokens, \(g.tokens.count) new (stopped: \(g.stop.rawValue)); "
        + String(format: "prefill %.1f ms (%.2f ms/token)", prefill, prefill / Double(max(1, g.prompt.count)))
    if g.decodeSteps > 0 {
        line += String(format: "; decode %.2f ms/token over %d steps", g.decodeSeconds * 1e3 / Double(g.decodeSteps), g.decodeSteps)
    }
    if !g.nearTies.isEmpty {
        line += "; near ties (top-2 logits within \(Generation.nearTie)) at new tokens \(g.nearTies.map(String.init).joined(separator: ", "))"
    }
    return line
}
