// The extend entry points: a cache filled a few positions at a time gives the logits of the full
// forward at every position; errors leave the cache as it was; models that cannot have a cache
// are refused with the reason.
import Foundation
import Testing
import TIR
import TIRCodegen
import TIRFormats

@Suite struct ExtendTests {
    /// The full forward's output rows (every position) of `tokens`.
    static func forward(_ model: JITModel, _ tokens: [Int32]) throws -> [Float] {
        let outputs = try model.run(inputs: ["tokens": HostTensor(shape: [tokens.count], i32: tokens)])
        return outputs["logits"]!.floats
    }

    static func tokens(_ count: Int, vocabulary: Int, seed: UInt64) -> [Int32] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int32((state >> 33) % UInt64(vocabulary))
        }
    }

    /// max |a - b| over max |b|.
    static func gap(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
        let scale = max(b.map(abs).max() ?? 0, 1e-30)
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    @Test(arguments: [(threads: 1, parallelWork: defaultMinParallelWork), (threads: 2, parallelWork: 0)])
    func chunksOfEverySizeMatchTheForward(threads: Int, parallelWork: Int) throws {
        let (module, weights) = try load(path: examplePath("gpt-tiny.tir"))
        let model = try JITModel(module, weights: weights, threads: threads, minParallelWork: parallelWork, extend: true)
        let vocabulary = 256, width = vocabulary
        let all = Self.tokens(64, vocabulary: vocabulary, seed: 3)
        let reference = try Self.forward(model, all)
        // Prompts of several lengths, then chunks of 1, 2, 5, ... up to the end of the context.
        for prompt in [1, 2, 7, 16, 33, 63, 64] {
            let session = try CacheSession(model)
            let first = try session.extend(["tokens": HostTensor(shape: [prompt], i32: Array(all[0..<prompt]))],
                                           allPositions: true)["logits"]!.floats
            #expect(Self.gap(first[...], reference[0..<(prompt * width)]) < 1e-5, "prompt \(prompt)")
            var at = prompt, chunk = 1
            while at < all.count {
                let n = min(chunk, all.count - at)
                let last = try session.extend(tokens: Array(all[at..<(at + n)]))
                let row = (at + n - 1) * width
                #expect(Self.gap(last[...], reference[row..<(row + width)]) < 1e-5, "prompt \(prompt), positions \(at)..<\(at + n)")
                at += n
                chunk = chunk == 1 ? 2 : chunk + 3
            }
            #expect(session.length == all.count)
        }
    }

    @Test func fullCacheAndBadCachesChangeNothing() throws {
        let (module, weights) = try load(path: examplePath("gpt-tiny.tir"))
        let model = try JITModel(module, weights: weights, threads: 1, extend: true)
        let all = Self.tokens(64, vocabulary: 256, seed: 5)
        let reference = try Self.forward(model, all)
        let session = try CacheSession(model)
        #expect(session.maxContext == 64)
        _ = try session.extend(tokens: Array(all[0..<60]))
        // Five more do not fit: refused, and the cache still holds 60.
        #expect(throws: RunError.self) { try session.extend(tokens: Array(all[60..<64]) + [1]) }
        #expect(session.length == 60)
        // A bad token id is refused before anything is written.
        #expect(throws: RunError.self) { try session.extend(tokens: [3, 999]) }
        #expect(session.length == 60)
        let last = try session.extend(tokens: Array(all[60..<64]))
        #expect(Self.gap(last[...], reference[(63 * 256)...]) < 1e-5)
        #expect(session.length == 64)
        #expect(throws: RunError.self) { try session.extend(tokens: [1]) }

        // Truncate and go on from there: the same logits as the first time.
        try session.truncate(to: 10)
        #expect(session.length == 10)
        #expect(throws: RunError.self) { try session.truncate(to: 11) }
        let again = try session.extend(tokens: Array(all[10..<20]))
        #expect(Self.gap(again[...], reference[(19 * 256)..<(20 * 256)]) < 1e-5)

        // A fork goes its own way; the original is untouched.
        let fork = try session.fork()
        _ = try fork.extend(tokens: [7, 7, 7])
        #expect(fork.length == 23 && session.length == 20)
        let next = try session.extend(tokens: [all[20]])
        #expect(Self.gap(next[...], reference[(20 * 256)..<(21 * 256)]) < 1e-5)

        // A corrupted header (another model's magic, an impossible length) is refused.
        session.withCacheBytes { $0[0] ^= 0xff }
        #expect(session.length == -1)
        #expect { try session.extend(tokens: [1]) } throws: { ($0 as? RunError)?.status == .badCache }
        session.withCacheBytes { $0[0] ^= 0xff }
        session.withCacheBytes { $0.storeBytes(of: Int64(65), toByteOffset: 8, as: Int64.self) }
        #expect { try session.extend(tokens: [1]) } throws: { ($0 as? RunError)?.status == .badCache }
    }

    /// Positions read from an offset (OPT's): the cache's positions continue from it, and the
    /// context is what the table has after it.
    @Test func positionsFromAnOffset() throws {
        let source = try String(contentsOfFile: examplePath("gpt-tiny.tir"), encoding: .utf8)
            .replacingOccurrences(of: "param @wpe : f32[64, 64]", with: "param @wpe : f32[69, 64]")
            .replacingOccurrences(of: "positions(@wpe)", with: "positions(@wpe) {offset = 5}")
        #expect(source.contains("offset = 5") && source.contains("f32[69, 64]"))
        let (module, weights) = try load(source: source)
        let model = try JITModel(module, weights: weights, threads: 1, extend: true)
        let all = Self.tokens(64, vocabulary: 256, seed: 11)
        let reference = try Self.forward(model, all)
        let session = try CacheSession(model)
        #expect(session.maxContext == 64)
        _ = try session.extend(tokens: Array(all[0..<30]))
        for at in 30..<40 {
            let last = try session.extend(tokens: [all[at]])
            #expect(Self.gap(last[...], reference[(at * 256)..<((at + 1) * 256)]) < 1e-5, "position \(at)")
        }
    }

    /// rope turns queries and keys by their positions: in an extend step, the new rows' (after
    /// the cache's), computed for the last row alone when only it is wanted.
    @Test func ropeContinuesFromTheCache() throws {
        let (module, weights) = try load(source: """
            model @m {
              seq T <= 20
              weights random(seed = 5, std = 0.5)
              input %tokens : i32[T]
              param @e : f32[9, 24]
              param @wq : f32[24, 24]
              param @wk : f32[24, 24]
              param @wv : f32[24, 24]
              param @wo : f32[24, 9]
              %x = embedding(%tokens, @e) : f32[T, 24]
              %q = linear(%x, @wq) : f32[T, 24]
              %k = linear(%x, @wk) : f32[T, 24]
              %v = linear(%x, @wv) : f32[T, 24]
              %qr = rope(%q) {heads = 2, rotary_dims = 8} : f32[T, 24]
              %kr = rope(%k) {heads = 2, rotary_dims = 8} : f32[T, 24]
              %a = attention(%qr, %kr, %v) {heads = 2, causal = true} : f32[T, 24]
              %logits = linear(%a, @wo) : f32[T, 9]
              output %logits
            }
            """)
        let model = try JITModel(module, weights: weights, threads: 1, extend: true)
        let all = Self.tokens(20, vocabulary: 9, seed: 2)
        let reference = try Self.forward(model, all)
        let session = try CacheSession(model)
        let first = try session.extend(["tokens": HostTensor(shape: [7], i32: Array(all[0..<7]))], allPositions: true)["logits"]!.floats
        #expect(Self.gap(first[...], reference[0..<(7 * 9)]) < 1e-5)
        for at in 7..<20 {
            let last = try session.extend(tokens: [all[at]])
            #expect(Self.gap(last[...], reference[(at * 9)..<((at + 1) * 9)]) < 1e-5, "position \(at)")
        }
    }

    @Test func modelsWithoutACacheAreRefusedWithTheReason() throws {
        let (vit, vitWeights) = try load(path: examplePath("vit-tiny.tir"))
        #expect { try JITModel(vit, weights: vitWeights, extend: true) } throws: {
            "\($0)".contains("no extend entry point")
        }
    }
}
